// code-server (a real VS Code) with the packaged extension, driven in Debian's Chromium.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach } from 'node:test';
import { chromium, type Browser, type Frame, type Page } from 'playwright-core';
import { hostTarget, vsixFileName } from '../../.ci/vsix/targets';
import { freePort } from '../helpers/cli-server';

export const CODE_SERVER = path.resolve(__dirname, '../../.cache/code-server/node_modules/.bin/code-server');
export const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export interface VsCode {
  page: Page;
  browser: Browser;
  server: ChildProcess;
  userDir: string;
  close(): Promise<void>;
}

/** This machine's package in dist-vsix/ (`npm run package`; `package:all` writes the other platforms' beside it). */
export function hostVsix(): string {
  const target = hostTarget();
  if (!target) throw new Error(`no .vsix target for ${process.platform}-${process.arch}`);
  const { version } = JSON.parse(readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8')) as { version: string };
  const vsix = path.resolve(__dirname, '../../dist-vsix', vsixFileName(target.name, version));
  if (!existsSync(vsix)) throw new Error(`${vsix} is missing: run \`npm run package\` first`);
  return vsix;
}

export function installExtension(vsix: string, userDir: string, extensionsDir: string): void {
  const run = spawnSync(CODE_SERVER, ['--user-data-dir', userDir, '--extensions-dir', extensionsDir, '--install-extension', vsix], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`installing ${vsix} failed: ${run.stderr}${run.stdout}`);
}

export async function openVsCode(workspace: string, root: string): Promise<VsCode> {
  const userDir = path.join(root, 'user');
  const extensionsDir = path.join(root, 'extensions');
  await fs.mkdir(path.join(userDir, 'User'), { recursive: true });
  await fs.writeFile(
    path.join(userDir, 'User', 'settings.json'),
    JSON.stringify({
      'workbench.startupEditor': 'none',
      'security.workspace.trust.enabled': false,
      'files.simpleDialog.enable': true,
      'workbench.tips.enabled': false,
      'telemetry.telemetryLevel': 'off',
    }),
  );
  const port = await freePort();
  const server = spawn(
    CODE_SERVER,
    [
      '--auth',
      'none',
      '--bind-addr',
      `127.0.0.1:${port}`,
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--user-data-dir',
      userDir,
      '--extensions-dir',
      extensionsDir,
      workspace,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  let output = '';
  server.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  server.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const check = () => output.includes('HTTP server listening') && resolve();
    server.stdout!.on('data', check);
    server.once('exit', (code) => reject(new Error(`code-server exited ${code}: ${output}`)));
  });
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_FLAGS });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  // A folder, or a multi-root workspace file.
  const open = workspace.endsWith('.code-workspace') ? 'workspace' : 'folder';
  await page.goto(`http://127.0.0.1:${port}/?${open}=${encodeURIComponent(workspace)}`);
  await page.waitForSelector('.monaco-workbench .explorer-folders-view, .monaco-workbench .part.sidebar', { timeout: 120_000 });
  return {
    page,
    browser,
    server,
    userDir,
    async close() {
      await browser.close();
      // code-server keeps extension hosts alive for a reconnect that will not come: end its
      // whole process group (it was started detached, so that is only code-server's own).
      const exited = new Promise((resolve) => (server.exitCode !== null ? resolve(undefined) : server.once('exit', resolve)));
      try {
        process.kill(-server.pid!, 'SIGTERM');
      } catch {
        return; // already gone
      }
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
      try {
        process.kill(-server.pid!, 'SIGKILL');
      } catch {
        // the group has gone
      }
    },
  };
}

/** F1, type the command's title, Enter. */
export async function runCommand(page: Page, title: string): Promise<void> {
  const input = page.locator('.quick-input-widget .quick-input-box input');
  await page.keyboard.press('F1');
  if (
    !(await input.waitFor({ state: 'visible', timeout: 3000 }).then(
      () => true,
      () => false,
    ))
  ) {
    // A focused webview keeps F1 to itself: give the focus back to the workbench first.
    await page.locator('.explorer-folders-view').first().click();
    await page.keyboard.press('F1');
  }
  await input.waitFor({ state: 'visible' });
  await input.fill(`>${title}`);
  await page.locator('.quick-input-widget .monaco-list-row', { hasText: title }).first().waitFor();
  await page.keyboard.press('Enter');
}

/**
 * Picks a QuickPick item by its label text. The palette and the next pick share one widget,
 * so text typed while one replaces the other can land in the wrong one: type until the
 * focused row is the wanted item.
 */
export async function pick(page: Page, label: string): Promise<void> {
  const input = page.locator('.quick-input-widget .quick-input-box input');
  const focused = page.locator('.quick-input-widget .monaco-list-row.focused', { hasText: label });
  for (let attempt = 0; ; attempt++) {
    await input.waitFor({ state: 'visible' });
    await input.fill(label);
    if (
      await focused
        .first()
        .waitFor({ timeout: 5000 })
        .then(
          () => true,
          () => false,
        )
    )
      break;
    if (attempt >= 5) throw new Error(`no QuickPick item "${label}"`);
  }
  await page.keyboard.press('Enter');
}

export async function notification(page: Page, text: RegExp, timeout = 120_000): Promise<string> {
  const toast = page.locator('.notifications-toasts .notification-toast', { hasText: text }).first();
  await toast.waitFor({ timeout });
  return (await toast.innerText()).trim();
}

/** Right-clicks an explorer row and chooses a context-menu item. */
export async function contextMenu(page: Page, rowText: string, itemText: string): Promise<void> {
  const row = page.locator('.explorer-folders-view .monaco-list-row', { hasText: rowText }).first();
  await row.click({ button: 'right' });
  await chooseMenuItem(page, itemText);
}

/** Chooses an item of the context menu that is open (the explorer's, or a webview's). */
export async function chooseMenuItem(page: Page, itemText: string): Promise<void> {
  const item = page.locator('.context-view .action-item', { hasText: itemText }).first();
  await item.hover();
  await item.click();
  const menu = page.locator('.context-view .monaco-menu');
  // The menu sometimes swallows the first click while it animates in; then Enter picks the
  // highlighted item. Only a menu still open after a while: one that is merely closing would
  // pass the Enter to the explorer, which opens its focused row in an editor, and the
  // command's picker loses the focus and closes.
  if (
    !(await menu.waitFor({ state: 'hidden', timeout: 2000 }).then(
      () => true,
      () => false,
    ))
  )
    await page.keyboard.press('Enter');
  await menu.waitFor({ state: 'hidden' });
}

/**
 * A context-menu command that opens a QuickPick. On a cold start the menu sometimes closes
 * without running the command: try again (the selection stays) until the picker shows.
 */
export async function contextMenuToPicker(page: Page, rowText: string, itemText: string): Promise<void> {
  const picker = page.locator('.quick-input-widget .quick-input-box input');
  for (let attempt = 1; ; attempt++) {
    await contextMenu(page, rowText, itemText);
    if (
      await picker.waitFor({ state: 'visible', timeout: 20_000 }).then(
        () => true,
        () => false,
      )
    )
      return;
    if (attempt === 3) throw new Error(`"${itemText}" on ${rowText} opened no picker`);
  }
}

/** The palette lists commands as they were when it opened: reopen it until `title` is there. */
export async function waitForCommand(page: Page, title: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget .quick-input-box input');
    await input.waitFor({ state: 'visible' });
    await input.fill(`>${title}`);
    const found = await page
      .locator('.quick-input-widget .monaco-list-row', { hasText: title })
      .first()
      .waitFor({ timeout: 3000 })
      .then(
        () => true,
        () => false,
      );
    await page.keyboard.press('Escape');
    if (found) return;
    if (Date.now() > deadline) throw new Error(`command "${title}" never appeared in the palette`);
  }
}

/** A webview's content frame (webviews sit in nested iframes): the one that shows `selector`. */
export async function webviewFrame(page: Page, selector: string, timeoutMs = 60_000): Promise<Frame> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const frame of page.frames()) {
      if (
        await frame
          .locator(selector)
          .count()
          .catch(() => 0)
      )
        return frame;
    }
    if (Date.now() > deadline) throw new Error(`no webview shows ${selector}`);
    await page.waitForTimeout(250);
  }
}

/**
 * Called in a describe: after each of its tests that failed, a screenshot of the page as the
 * failure left it, in `dir` as `<test name>-failed.png`. Register it before hooks that change
 * the page, so it shows what the test saw.
 */
export function screenshotOnFailure(page: () => Page | undefined, dir: string): void {
  afterEach(async (t) => {
    const current = page();
    // TestContext.passed (Node 20.12+, not yet in @types/node 20): false once the test has failed.
    if ((t as { passed?: boolean }).passed !== false || !current || current.isClosed()) return;
    const name = t.name
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '')
      .slice(0, 80);
    await fs.mkdir(dir, { recursive: true });
    await current.screenshot({ path: path.join(dir, `${name}-failed.png`) }).catch(() => undefined);
  });
}
