// The packaged .vsix in a real VS Code (code-server) in headless Chromium: right-click a
// folder of images to add them, train from the palette, predict from the explorer, see a tag
// added over HTTP by another client in the status bar, kill the engine and keep working. Screenshots land in test-artifacts/e2e/ (ignored by git).
// Needs: `npm run package` output, code-server from test/e2e/install-code-server.sh, Chromium.
import assert from 'node:assert/strict';
import { execSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { blobImages, stripedImages, tempDir } from '../helpers/engine';
import { contextMenuToPicker, hostVsix, installExtension, notification, openVsCode, pick, runCommand, screenshotOnFailure, waitForCommand, webviewFrame, type VsCode } from './code-server';

const ARTIFACTS = path.resolve(__dirname, '../../test-artifacts/e2e');

/** Polls a condition outside the browser (a file on disk) until it holds. */
async function waitUntil(condition: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('Tagsmith in VS Code', { timeout: 600_000 }, () => {
  let root: string;
  let workspace: string;
  let vscode: VsCode;
  const shot = (name: string) => vscode.page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`) });

  before(async () => {
    root = await tempDir('tagsmith-e2e-');
    workspace = path.join(root, 'workspace');
    await fs.mkdir(path.join(workspace, 'stripes'), { recursive: true });
    await fs.mkdir(path.join(workspace, 'blobs'), { recursive: true });
    await fs.mkdir(ARTIFACTS, { recursive: true });
    for (const [i, b] of (await stripedImages(8)).entries()) await fs.writeFile(path.join(workspace, 'stripes', `s${i}.jpg`), b);
    for (const [i, b] of (await blobImages(8)).entries()) await fs.writeFile(path.join(workspace, 'blobs', `b${i}.jpg`), b);
    await fs.writeFile(path.join(workspace, 'stripes', 'notes.txt'), 'not an image');
    const whole = (await stripedImages(1, 50))[0];
    await fs.writeFile(path.join(workspace, 'stripes', 'broken.jpg'), whole.subarray(0, Math.floor(whole.length / 2)));
    await fs.writeFile(path.join(workspace, 'unseen.jpg'), (await stripedImages(1, 99))[0]);
    await fs.writeFile(path.join(workspace, 'first.jpg'), (await stripedImages(1, 60))[0]);
    await fs.copyFile(path.resolve(__dirname, '../../examples/getting-started.ipynb'), path.join(workspace, 'getting-started.ipynb'));
    installExtension(hostVsix(), path.join(root, 'user'), path.join(root, 'extensions'));
    vscode = await openVsCode(workspace, root);
    await waitForCommand(vscode.page, 'Tagsmith: Train Tag');
  });
  screenshotOnFailure(() => vscode?.page, ARTIFACTS);
  afterEach(async () => {
    if (vscode.page.isClosed()) return;
    // Any error notification is a failure the steps above did not expect.
    const errors = await vscode.page.locator('.notifications-toasts .notification-toast:has(.codicon-error)').allInnerTexts();
    assert.deepEqual(errors, [], 'no error notifications');
  });
  after(async () => {
    await vscode?.close();
    await fs.rm(root, { recursive: true, force: true });
  });

  it('adds an image as a positive of a new tag, then a multi-selection with a folder, from the explorer', () => addFromExplorer());

  async function addFromExplorer(): Promise<void> {
    const { page } = vscode;
    await contextMenuToPicker(page, 'first.jpg', 'Add as Positive Sample');
    await pick(page, 'New tag');
    await page.locator('.quick-input-widget .quick-input-box input').fill('stripes');
    await page.keyboard.press('Enter');
    assert.match(await notification(page, /1 added as positive/), /1 added as positive of "stripes"/);
    await page.locator('.statusbar-item', { hasText: 'Tagsmith: 1 tag' }).waitFor();

    // Ctrl-click a folder and the image already added, right-click the selection.
    const rows = page.locator('.explorer-folders-view .monaco-list-row');
    await rows.filter({ hasText: /^stripes$/ }).click();
    await rows.filter({ hasText: 'first.jpg' }).click({ modifiers: ['Control'] });
    await contextMenuToPicker(page, 'first.jpg', 'Add as Positive Sample');
    await pick(page, 'stripes');
    // The truncated JPEG is named with its reason; the image added before is counted, not doubled.
    assert.match(await notification(page, /8 added as positive/), /8 added as positive of "stripes", 1 already there\. Skipped 1: broken\.jpg \(.*(truncated|corrupt|premature|not an image).*\)/i);
    await shot('1-added');
    await contextMenuToPicker(page, 'blobs', 'Add as Negative Sample');
    await pick(page, 'stripes');
    assert.match(await notification(page, /added as negative/), /8 added as negative of "stripes"/);
  }

  it('trains the tag with 2 clusters from the palette and reports metrics', async () => {
    const { page } = vscode;
    await runCommand(page, 'Tagsmith: Train Tag');
    await pick(page, 'stripes');
    await pick(page, '2');
    await page.locator('.quick-input-widget', { hasText: 'extra inputs' }).waitFor();
    await page.keyboard.press('Enter');
    assert.match(await notification(page, /Trained "stripes"/), /F1 \d\.\d\d, ROC AUC \d\.\d\d \(cross-validated\)/);
    await shot('2-trained');
  });

  it('opens the dashboard from the training message, with charts of the new model', async () => {
    const { page } = vscode;
    await page.locator('.notifications-toasts .notification-toast', { hasText: /Trained "stripes"/ }).getByRole('button', { name: 'Open Dashboard' }).click();
    const dashboard = await webviewFrame(page, '.sentence');
    await dashboard.locator('.sentence', { hasText: 'held-out positives found' }).waitFor();
    assert.equal(await dashboard.locator('.charts canvas').count(), 4);
    const model = await trainedModel('stripes');
    assert.match(await dashboard.locator('.figures').innerText(), new RegExp(`F1\\s+${model.metrics.f1.toFixed(3)}\\s+ROC AUC\\s+${model.metrics.rocAuc.toFixed(3)}`));
    await shot('3-dashboard');
  });

  it('opens the gallery from the status bar and shows every sample as a thumbnail', async () => {
    const { page } = vscode;
    await page.locator('.statusbar-item', { hasText: 'Tagsmith: 1 tag' }).click();
    await pick(page, 'Open Sample Gallery');
    const gallery = await webviewFrame(page, '.tag-list');
    await gallery.locator('.tag-item[data-tag="stripes"]').waitFor();
    await gallery.locator('.grid-section.positive h3', { hasText: 'Positives (9)' }).waitFor();
    await gallery.locator('.grid-section.negative h3', { hasText: 'Negatives (8)' }).waitFor();
    // notes.txt was skipped when the folder was added: no cell for it.
    assert.equal(await gallery.locator('.sample[title="notes.txt"]').count(), 0);
    await waitUntil(async () => (await gallery.locator('.sample img').evaluateAll((imgs) => imgs.filter((i) => (i as { naturalWidth: number }).naturalWidth > 0).length)) === 17, 'all 17 thumbnails are drawn');
    // Move one positive to the negatives: both counts change, and the tag is marked stale.
    const first = gallery.locator('.grid-section.positive .sample').first();
    await first.hover();
    await first.getByRole('button', { name: /^Move .* to negatives$/ }).click();
    await gallery.locator('.grid-section.positive h3', { hasText: 'Positives (8)' }).waitFor();
    await gallery.locator('.grid-section.negative h3', { hasText: 'Negatives (9)' }).waitFor();
    await gallery.locator('.tag-item[data-tag="stripes"]', { hasText: 'samples changed' }).waitFor();
    await shot('4-gallery');
  });

  it('predicts an unseen striped image above the threshold', async () => {
    const { page } = vscode;
    try {
      await contextMenuToPicker(page, 'unseen.jpg', 'Predict Tags');
      const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: 'threshold' }).first();
      await row.waitFor();
      assert.match(await row.innerText(), /stripes[\s\S]*above the threshold/);
      await shot('5-predicted');
    } finally {
      await page.keyboard.press('Escape');
    }
  });

  it('backs up the state, removes the tag, restores it, and sees the tag back', () => backupRemoveRestore());

  async function backupRemoveRestore(): Promise<void> {
    const { page } = vscode;
    const backup = path.join(root, 'backup.tar');
    // code-server's simple file dialogs are quick inputs that take a typed path.
    const typePath = async (dialogTitle: string, file: string) => {
      // The palette closes and the dialog opens in the same widget: wait for the dialog's title.
      await page.locator('.quick-input-widget .quick-input-title', { hasText: dialogTitle }).waitFor();
      const input = page.locator('.quick-input-widget .quick-input-box input');
      await input.waitFor({ state: 'visible' });
      // The dialog writes its starting folder into the box once it has listed it, which can
      // replace what was typed: type again until the path stays.
      for (let attempt = 0; ; attempt++) {
        await input.fill(file);
        const replaced = await waitUntil(async () => (await input.inputValue()) !== file, 'the dialog replaces the path', 1500).then(() => true, () => false);
        if (!replaced) break;
        assert.ok(attempt < 10, 'the file dialog kept replacing the typed path');
      }
      await page.locator('.quick-input-widget .quick-input-action .monaco-button', { hasText: /OK|Save/ }).first().click();
    };
    await runCommand(page, 'Tagsmith: Back Up State');
    await typePath('Back up the Tagsmith state', backup);
    await waitUntil(async () => ((await fs.stat(backup).catch(() => undefined))?.size ?? 0) > 10_000, 'the backup file is written');

    await runCommand(page, 'Tagsmith: Remove Tag');
    await pick(page, 'stripes');
    await page.locator('.monaco-dialog-box .monaco-button', { hasText: /^Remove$/ }).click();
    await page.locator('.statusbar-item', { hasText: 'Tagsmith: 0 tags' }).waitFor();

    await runCommand(page, 'Tagsmith: Restore State');
    await typePath('Restore the Tagsmith state from', backup);
    await page.locator('.monaco-dialog-box .monaco-button', { hasText: /^Replace$/ }).click();
    await page.locator('.statusbar-item', { hasText: 'Tagsmith: 1 tag' }).waitFor();
  }

  it('shows a tag another client adds over HTTP in the status bar, and its removal', async () => {
    const { page } = vscode;
    // Where the engine listens, from the status bar's tooltip, and its token, from its
    // environment: what a curl user would find.
    const url = /running at (http:\/\/127\.0\.0\.1:\d+)/.exec(await statusTooltip('Tagsmith: 1 tag', 'running at'))?.[1];
    assert.ok(url, 'the tooltip names the engine\'s address');
    const [pid] = enginePids();
    const token = (await fs.readFile(`/proc/${pid}/environ`, 'utf8')).split('\0').find((v) => v.startsWith('TAGSMITH_TOKEN='))!.slice('TAGSMITH_TOKEN='.length);
    const headers = { authorization: `Bearer ${token}` };
    const form = new FormData();
    form.append('data', new Blob([await fs.readFile(path.join(workspace, 'unseen.jpg'))], { type: 'image/jpeg' }), 'unseen.jpg');
    const added = await fetch(`${url}/add/positive/from-curl`, { method: 'POST', body: form, headers });
    assert.ok(added.ok, await added.text());
    await page.locator('.statusbar-item', { hasText: 'Tagsmith: 2 tags' }).waitFor();
    assert.match(await statusTooltip('Tagsmith: 2 tags', 'from-curl'), /Tags: .*from-curl \(not trained\)/);
    await shot('6b-tag-from-curl');
    const cleaned = await fetch(`${url}/clean/from-curl`, { method: 'POST', headers });
    assert.ok(cleaned.ok, await cleaned.text());
    await page.locator('.statusbar-item', { hasText: 'Tagsmith: 1 tag' }).waitFor();
  });

  /** The status-bar item's tooltip, as hovering it shows it. */
  async function statusTooltip(itemText: string, tooltipText: string): Promise<string> {
    const { page } = vscode;
    const hover = page.locator('.workbench-hover, .monaco-hover', { hasText: tooltipText }).first();
    for (let attempt = 0; ; attempt++) {
      await page.mouse.move(700, 300);
      await page.locator('.statusbar-item', { hasText: itemText }).hover();
      if (await hover.waitFor({ timeout: 5000 }).then(() => true, () => false)) break;
      assert.ok(attempt < 5, `no tooltip with "${tooltipText}" on the status-bar item "${itemText}"`);
    }
    const text = await hover.innerText();
    await page.mouse.move(700, 300);
    return text;
  }

  it('notices a killed engine and keeps working', async () => {
    const { page } = vscode;
    const [pid] = enginePids();
    assert.ok(pid > 0, 'the engine runs as a child process');
    process.kill(pid, 'SIGKILL');
    assert.match(await notification(page, /stopped unexpectedly/), /being restarted/);
    await runCommand(page, 'Tagsmith: Train Tag');
    await pick(page, 'stripes');
    await pick(page, '1');
    await page.locator('.quick-input-widget', { hasText: 'extra inputs' }).waitFor();
    await page.keyboard.press('Enter');
    assert.match(await notification(page, /Trained "stripes"/), /cross-validated/);
    await shot('7-after-restart');
  });

  it('runs the example notebook with the Tagsmith TypeScript kernel', async () => {
    const { page } = vscode;
    await page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'getting-started.ipynb' }).dblclick();
    await page.locator('.notebook-editor:visible').waitFor();
    // The only controller for .ipynb here may already be chosen; otherwise pick it.
    const toolbar = page.locator('.notebook-editor:visible .notebook-toolbar-container');
    const kernel = toolbar.getByText(/Tagsmith TypeScript|Select Kernel/).first();
    await kernel.waitFor();
    if (!(await kernel.innerText()).includes('Tagsmith TypeScript')) {
      await kernel.click();
      await pick(page, 'Tagsmith TypeScript');
    }
    await toolbar.getByText('Tagsmith TypeScript').waitFor();
    await toolbar.getByText('Run All').click();
    // Outputs render in the notebook's output webview, only for cells near the viewport:
    // move through the notebook and note what has been seen, until everything has. The
    // keyboard moves it (command mode: ArrowDown reveals the next cell, Ctrl+Home the first);
    // the mouse wheel over the output webview did not, here (460 steps, never past the cell running).
    const seen = { metrics: false, chart: false, table: false, prediction: false, restored: false };
    await page.locator('.notebook-editor:visible .code-cell-row .monaco-editor').first().click();
    await page.keyboard.press('Escape');
    const deadline = Date.now() + 240_000;
    for (let step = 1; !Object.values(seen).every(Boolean); step++) {
      assert.ok(Date.now() < deadline, `not all outputs appeared: ${JSON.stringify(seen)}`);
      for (const frame of page.frames()) {
        const text = await frame.locator('body').innerText({ timeout: 1000 }).catch(() => '');
        if (/F1 \d\.\d\d, ROC AUC \d\.\d\d, threshold/.test(text)) seen.metrics = true;
        if (/unseen striped picture: demo-stripes [01]\.\d\d \(threshold [01]\.\d\d\) → yes/.test(text)) seen.prediction = true;
        if (/restored \d+ tag\(s\) and \d+ samples .* "demo-stripes" trained again: true/.test(text)) seen.restored = true;
        if (await frame.locator('table.tagsmith-predictions').count().catch(() => 0)) seen.table = true;
        if (await frame.locator('svg text, img[src^="data:image/svg"]').count().catch(() => 0)) seen.chart = true;
      }
      // Down through the notebook, and back to the top now and then for outputs that came late.
      await page.keyboard.press(step % 25 === 0 ? 'Control+Home' : 'ArrowDown');
      await page.waitForTimeout(300); // let the output webview render what scrolled in
    }
    assert.equal(await page.locator('.notebook-editor:visible .codicon-error').count(), 0, 'no cell failed');
    await shot('8-notebook');
  });

  it('stops the engine on window reload, and the open panel comes back', async () => {
    const { page } = vscode;
    const before = enginePids();
    assert.equal(before.length, 1, `one engine runs: ${execSync(`ps -o pid,ppid,args -p ${before.join(',') || 1}`, { encoding: 'utf8' })}`);
    await runCommand(page, 'Tagsmith: Show Sample Gallery');
    await webviewFrame(page, '.tag-list');
    await runCommand(page, 'Developer: Reload Window');
    // deactivate() stops the engine; the serializer brings the gallery back, which starts a new one.
    await waitUntil(async () => !enginePids().includes(before[0]), 'the old engine has exited', 30_000);
    const gallery = await webviewFrame(page, '.tag-list', 120_000);
    await gallery.locator('.tag-item[data-tag="stripes"]').waitFor({ timeout: 60_000 });
    await shot('9-reloaded');
  });

  it('an engine whose extension host dies exits too', async () => {
    await waitUntil(async () => enginePids().length === 1, 'the new engine runs');
    const [engine] = enginePids();
    const host = Number(execSync(`ps -o ppid= -p ${engine}`, { encoding: 'utf8' }).trim());
    process.kill(host, 'SIGKILL');
    await waitUntil(async () => !enginePids().includes(engine), 'the orphaned engine has exited', 30_000);
  });

  /** The tag's model as the engine saved it, read from the extension's state folder. */
  async function trainedModel(tag: string): Promise<{ metrics: { f1: number; rocAuc: number } }> {
    const state = path.join(root, 'user', 'User', 'globalStorage', 'tagsmith.tagsmith', 'state');
    const { generation } = JSON.parse(await fs.readFile(path.join(state, 'CURRENT'), 'utf8')) as { generation: string };
    return JSON.parse(await fs.readFile(path.join(state, generation, 'tags', tag, 'model.json'), 'utf8'));
  }

  /** Engines of this test's VS Code (their state folder is under its user folder). */
  function enginePids(): number[] {
    return execSync(`pgrep -f '[c]li.js serve .*--state ${root}' || true`, { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  }
});
