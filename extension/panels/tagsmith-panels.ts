// Hosts the gallery, the dashboard and the review panel: one WebviewPanel each, created on demand or revived by
// the serializer after a window reload. Messages pass through the protocol's guards both
// ways; the host holds what it sends until the page says `ready`. What the panels show of the
// engine comes from the engine's watcher, pushed to them whenever its tags or tasks change.
import * as vscode from 'vscode';
import type { TagsmithClient } from '../../kernel/client/tagsmith-client';
import {
  isReadyNotification,
  isRequestMessage,
  notification,
  response,
  PANEL_KINDS,
  type EngineSnapshot,
  type HostNotification,
  type PanelKind,
  type SimilarTarget,
} from '../../webview/protocol';
import type { EngineWatcher } from '../engine/engine-watcher';
import { announceTraining } from '../ui/training-messages';
import { PanelRequests, type PageContext, type PanelHostActions } from './panel-requests';
import { buildWebviewHtml } from './webview-html';
import { readDroppedUris } from './dropped-uris';

const TITLES: Record<PanelKind, string> = { gallery: 'Tagsmith: Samples', dashboard: 'Tagsmith: Training', review: 'Tagsmith: Review' };
export const VIEW_TYPES: Record<PanelKind, string> = { gallery: 'tagsmith.gallery', dashboard: 'tagsmith.dashboard', review: 'tagsmith.review' };

interface OpenPanel {
  panel: vscode.WebviewPanel;
  ready: boolean;
  pending: HostNotification[];
}

export class TagsmithPanels implements vscode.Disposable {
  private readonly open = new Map<PanelKind, OpenPanel>();
  private readonly requests: PanelRequests;
  private readonly subscription: vscode.Disposable;
  private snapshot?: EngineSnapshot;

  constructor(
    private readonly context: vscode.ExtensionContext,
    client: () => Promise<TagsmithClient>,
    watcher: EngineWatcher,
    private readonly log: vscode.LogOutputChannel,
  ) {
    const actions: PanelHostActions = {
      readDroppedUris,
      openSample: (bytes, fileName) => this.openSample(bytes, fileName),
      openPanel: (panel, tag, similarTo) => this.show(panel, tag, similarTo),
      openFile: async (filePath) =>
        void (await vscode.commands.executeCommand('vscode.open', vscode.Uri.file(filePath), { preview: true, viewColumn: vscode.ViewColumn.Beside })),
      trainingStarted: (tag, taskId) => announceTraining(watcher, tag, taskId),
    };
    this.requests = new PanelRequests(client, watcher, actions);
    this.subscription = watcher.onDidChange(({ snapshot }) => {
      // A new snapshot object means the tags or tasks changed (or were read again on request).
      if (!snapshot || snapshot === this.snapshot) return;
      this.snapshot = snapshot;
      for (const kind of this.open.keys()) this.post(kind, notification('engine/changed', snapshot));
    });
    for (const kind of PANEL_KINDS) {
      context.subscriptions.push(
        vscode.window.registerWebviewPanelSerializer(VIEW_TYPES[kind], {
          deserializeWebviewPanel: async (panel) => this.adopt(kind, panel),
        }),
      );
    }
  }

  /** Opens (or reveals) a panel; with a tag, selects it there; the review panel can show the images most like one. */
  async show(kind: PanelKind, tag?: string, similarTo?: SimilarTarget): Promise<void> {
    const existing = this.open.get(kind);
    if (existing) existing.panel.reveal();
    else this.adopt(kind, vscode.window.createWebviewPanel(VIEW_TYPES[kind], TITLES[kind], vscode.ViewColumn.Active, {}));
    if (tag) this.post(kind, notification('panel/showTag', { tag }));
    if (similarTo) this.post(kind, notification('review/showSimilar', { target: similarTo }));
  }

  /** The workspace folders changed: the panels may show scanned images from the new ones. */
  workspaceFoldersChanged(): void {
    for (const { panel } of this.open.values()) panel.webview.options = this.webviewOptions();
  }

  dispose(): void {
    this.subscription.dispose();
    for (const { panel } of this.open.values()) panel.dispose();
  }

  private webviewOptions(): vscode.WebviewOptions {
    const bundle = vscode.Uri.joinPath(this.context.extensionUri, 'dist', 'webview');
    // Scanned images are shown as they are on disk; scans read only under the workspace folders.
    const folders = (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri);
    return { enableScripts: true, localResourceRoots: [bundle, ...folders] };
  }

  private adopt(kind: PanelKind, panel: vscode.WebviewPanel): void {
    const bundle = vscode.Uri.joinPath(this.context.extensionUri, 'dist', 'webview');
    panel.webview.options = this.webviewOptions();
    const entry: OpenPanel = { panel, ready: false, pending: [] };
    this.open.set(kind, entry);
    panel.webview.html = buildWebviewHtml({
      panel: kind,
      title: TITLES[kind],
      cspSource: panel.webview.cspSource,
      scriptUri: panel.webview.asWebviewUri(vscode.Uri.joinPath(bundle, `${kind}.js`)).toString(),
      styleUri: panel.webview.asWebviewUri(vscode.Uri.joinPath(bundle, `${kind}.css`)).toString(),
    });
    panel.webview.onDidReceiveMessage((message: unknown) => this.receive(kind, entry, message));
    panel.onDidDispose(() => this.open.delete(kind));
  }

  private async receive(kind: PanelKind, entry: OpenPanel, message: unknown): Promise<void> {
    if (isReadyNotification(message)) {
      entry.ready = true;
      if (this.snapshot) entry.pending.unshift(notification('engine/changed', this.snapshot));
      for (const m of entry.pending.splice(0)) void entry.panel.webview.postMessage(m);
      return;
    }
    if (!isRequestMessage(message)) {
      this.log.warn(`${kind} panel sent a message that is not part of the protocol; ignored.`);
      return;
    }
    try {
      const page: PageContext = { imageSrc: (filePath) => entry.panel.webview.asWebviewUri(vscode.Uri.file(filePath)).toString() };
      const result = await this.requests.handle(message.method, message.params, page);
      void entry.panel.webview.postMessage(response(message.id, { result }));
    } catch (error) {
      const e = error as { code?: string; message?: string };
      this.log.warn(`${kind}: ${message.method} failed: ${e.message}`);
      void entry.panel.webview.postMessage(response(message.id, { error: { code: e.code ?? 'internal', message: e.message ?? String(error) } }));
    }
  }

  private post(kind: PanelKind, message: HostNotification): void {
    const entry = this.open.get(kind);
    if (!entry) return;
    if (entry.ready) void entry.panel.webview.postMessage(message);
    else entry.pending.push(message);
  }

  private async openSample(bytes: Uint8Array, fileName: string): Promise<void> {
    // The engine keeps samples by hash; a copy under the extension's storage opens in VS Code's image viewer.
    const folder = vscode.Uri.joinPath(this.context.globalStorageUri, 'opened-samples');
    await vscode.workspace.fs.createDirectory(folder);
    const file = vscode.Uri.joinPath(folder, fileName.replace(/[\\/:*?"<>|]/g, '_'));
    await vscode.workspace.fs.writeFile(file, bytes);
    await vscode.commands.executeCommand('vscode.open', file, { preview: true, viewColumn: vscode.ViewColumn.Beside });
  }
}
