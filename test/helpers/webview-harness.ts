// A page that stands in for the extension host: it serves a panel's real HTML (the same
// builder, the same CSP) and bundle, and answers the panel's messages with the extension's
// own request handler and engine watcher, backed by a real engine. Runs in Debian's Chromium.
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { TagsmithClient } from '../../kernel/client/tagsmith-client';
import { imageFilesUnder } from '../../extension/logic/image-selection';
import { EngineWatcher } from '../../extension/engine/engine-watcher';
import { PanelRequests } from '../../extension/panels/panel-requests';
import { buildWebviewHtml } from '../../extension/panels/webview-html';
import {
  isReadyNotification,
  isRequestMessage,
  notification,
  response,
  type EngineSnapshot,
  type HostNotification,
  type PanelKind,
} from '../../webview/protocol';
import { CHROMIUM_FLAGS } from '../e2e/code-server';

const ROOT = path.resolve(__dirname, '../..');
export type Theme = 'light' | 'dark';

export interface Harness {
  browser: Browser;
  /** Every CSP violation, page error and refused message seen so far. */
  problems: string[];
  /** What the panels asked the host to open: sample files, `panel:<kind>:<tag>`, `file:<path>`. */
  opened: string[];
  openPanel(kind: PanelKind, theme: Theme): Promise<Page>;
  close(): Promise<void>;
}

/** What VS Code's webview preload provides: acquireVsCodeApi with postMessage and a saved state. */
const ACQUIRE_VSCODE_API = `
  let state = JSON.parse(sessionStorage.getItem('vscode-state') ?? 'null');
  window.acquireVsCodeApi = () => ({
    postMessage: (m) => window.__tagsmithHostReceive(m),
    getState: () => state,
    setState: (s) => { state = s; sessionStorage.setItem('vscode-state', JSON.stringify(s)); },
  });`;

/** `imageRoots`: folders whose image files the panels may load (as VS Code's localResourceRoots: the scanned folders). */
export async function startHarness(client: TagsmithClient, options: { imageRoots?: string[] } = {}): Promise<Harness> {
  const server = http.createServer((req, res) => void serve(req.url ?? '/', res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_FLAGS });
  const problems: string[] = [];
  const opened: string[] = [];
  const pages: Page[] = [];
  let snapshot: EngineSnapshot | undefined;
  const posts = new Set<(message: unknown) => void>();
  const postTo = new Map<PanelKind, (message: HostNotification) => void>();
  const imageRoots = (options.imageRoots ?? []).map((root) => path.resolve(root) + path.sep);

  // As TagsmithPanels does: every new snapshot of the watcher goes to the open panels.
  const watcher = new EngineWatcher({ busyMs: 150, idleMs: 400 });
  watcher.onDidChange((view) => {
    if (!view.snapshot || view.snapshot === snapshot) return;
    snapshot = view.snapshot;
    for (const post of posts) post(notification('engine/changed', view.snapshot));
  });
  const requests = new PanelRequests(async () => client, watcher, {
    readDroppedUris: (uris) => imageFilesUnder(uris.map((u) => fileURLToPath(u))),
    openSample: async (_bytes, fileName) => void opened.push(fileName),
    // As TagsmithPanels does: an open panel of that kind is told the tag (and the image to find more like).
    openPanel: async (panel, tag, similarTo) => {
      opened.push(`panel:${panel}:${tag ?? ''}${similarTo ? `:similar:${similarTo.label}` : ''}`);
      if (tag) postTo.get(panel)?.(notification('panel/showTag', { tag }));
      if (similarTo) postTo.get(panel)?.(notification('review/showSimilar', { target: similarTo }));
    },
    openFile: async (file) => void opened.push(`file:${file}`),
    trainingStarted: () => undefined,
  });
  watcher.engineReady(client);

  async function serve(url: string, res: http.ServerResponse): Promise<void> {
    const [route, query = ''] = url.split('?');
    const theme = new URLSearchParams(query).get('theme') === 'dark' ? 'dark' : 'light';
    const panel = /^\/panel\/(gallery|dashboard|review)$/.exec(route);
    if (panel) {
      const kind = panel[1] as PanelKind;
      // VS Code injects its theme variables and a body class; the harness does the same.
      const html = buildWebviewHtml({
        panel: kind,
        title: kind,
        cspSource: origin,
        scriptUri: `${origin}/dist/webview/${kind}.js`,
        styleUri: `${origin}/dist/webview/${kind}.css`,
      })
        .replace('<link rel="stylesheet"', `<link rel="stylesheet" href="${origin}/test/fixtures/webview/theme-${theme}.css">\n<link rel="stylesheet"`)
        .replace('<body ', `<body class="vscode-${theme}" `);
      res.writeHead(200, { 'content-type': 'text/html' }).end(html);
      return;
    }
    if (route === '/favicon.ico') return void res.writeHead(204).end(); // VS Code's webviews ask for none
    if (route === '/image') {
      // The stand-in for a webview resource URI: an image file under one of the allowed folders.
      const file = path.resolve(new URLSearchParams(query).get('path') ?? '');
      const body = imageRoots.some((root) => file.startsWith(root)) ? await fs.readFile(file).catch(() => undefined) : undefined;
      if (!body) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'image/jpeg' }).end(body);
      return;
    }
    const allowed = /^\/(dist\/webview\/[\w.-]+\.(js|css)|test\/fixtures\/webview\/theme-(light|dark)\.css)$/.test(route);
    if (!allowed) return void res.writeHead(404).end();
    const body = await fs.readFile(path.join(ROOT, route)).catch(() => undefined);
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': route.endsWith('.js') ? 'text/javascript' : 'text/css' }).end(body);
  }

  return {
    browser,
    problems,
    opened,
    async openPanel(kind, theme) {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, colorScheme: theme });
      pages.push(page);
      page.on('console', (m) => {
        if (m.type() === 'error' || /Content.Security.Policy|Refused to/i.test(m.text())) problems.push(`${kind} console: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`${kind} page error: ${e.message}`));
      const post = (message: unknown) =>
        void page
          .evaluate((m) => (globalThis as unknown as { postMessage(m: unknown, origin: string): void }).postMessage(m, '*'), message)
          .catch(() => undefined);
      await page.exposeFunction('__tagsmithHostReceive', async (message: unknown) => {
        if (isReadyNotification(message)) {
          if (snapshot) post(notification('engine/changed', snapshot));
          posts.add(post);
          postTo.set(kind, post);
          return;
        }
        if (!isRequestMessage(message)) return void problems.push(`${kind} sent a message outside the protocol: ${JSON.stringify(message).slice(0, 200)}`);
        try {
          const imageSrc = (file: string) => `${origin}/image?path=${encodeURIComponent(file)}`;
          post(response(message.id, { result: await requests.handle(message.method, message.params, { imageSrc }) }));
        } catch (error) {
          const e = error as { code?: string; message?: string };
          post(response(message.id, { error: { code: e.code ?? 'internal', message: e.message ?? String(error) } }));
        }
      });
      // What VS Code's webview preload provides: acquireVsCodeApi with postMessage and state.
      await page.addInitScript({ content: ACQUIRE_VSCODE_API });
      await page.goto(`${origin}/panel/${kind}?theme=${theme}`);
      return page;
    },
    async close() {
      watcher.dispose();
      for (const page of pages) await page.close().catch(() => undefined);
      await browser.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
