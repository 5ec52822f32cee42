// Explorer → "Tag Images in Folder…" and palette → "Tag Images in Workspace…": the engine scans
// the folders (each image embedded once, every trained tag scored) under a cancellable progress
// notification; then a summary offers what to do with the result: export it as CSV or JSON Lines,
// write XMP keywords (after a preview), or read every detail ("Show All"). The explorer's badges
// are read again once the scan is done. With `tagsmith.scan.keywords` the scan also finds each
// image's objects (the keywords model), which the tooltips, exports and sidecars then carry.
import os from 'node:os';
import path from 'node:path';
import * as vscode from 'vscode';
import type { ScanView, TableFormat, TagsmithClient } from '../../kernel/client/tagsmith-client';
import type { ScannedImages } from '../engine/scanned-images';
import { outsideRoots, scanRootsOf } from '../logic/scan-roots';
import {
  count,
  exportFileName,
  outsideWorkspaceMessage,
  progressMessage,
  scanDetails,
  scanLabel,
  sidecarPreview,
  sidecarResult,
  summariseScan,
} from '../logic/scan-text';

const EXPORT_CSV = 'Export CSV…';
const EXPORT_JSONL = 'Export JSON Lines…';
const WRITE_XMP = 'Write XMP Keywords…';
const SHOW_ALL = 'Show All';
const REVIEW = 'Review Tag…';

export interface ScanContext {
  client: TagsmithClient;
  scanned: ScannedImages;
  log: (line: string) => void;
  /** Opens the review panel on a tag, over this (the newest) scan. */
  review: (tag: string) => Promise<void>;
}

/** The explorer's selection (folders and images), or folders chosen in a dialog. */
export async function tagFolders(context: ScanContext, uris: vscode.Uri[]): Promise<void> {
  const roots = workspaceRoots();
  if (uris.length === 0) {
    const picked = await vscode.window.showOpenDialog({
      title: 'Tag the images in…',
      canSelectFolders: true,
      canSelectFiles: true,
      canSelectMany: true,
      openLabel: 'Tag Images',
      defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
    });
    if (!picked) return;
    uris = picked;
  }
  const paths = uris.filter((u) => u.scheme === 'file').map((u) => u.fsPath);
  if (paths.length === 0) {
    void vscode.window.showWarningMessage("Tagsmith tags images on this machine's disk only.");
    return;
  }
  const outside = outsideRoots(paths, roots);
  if (outside.length > 0) {
    void vscode.window.showWarningMessage(outsideWorkspaceMessage(outside, roots));
    return;
  }
  await scanAndSummarise(context, paths, scanLabel(paths, roots));
}

/** Every workspace folder on disk. */
export async function tagWorkspace(context: ScanContext): Promise<void> {
  const roots = workspaceRoots();
  if (roots.length === 0) {
    void vscode.window.showWarningMessage(outsideWorkspaceMessage([], roots));
    return;
  }
  await scanAndSummarise(context, roots, roots.length === 1 ? path.basename(roots[0]) : 'the workspace');
}

/** The setting, if the engine can honour it; if it cannot, the user is told how (the scan goes on without). */
async function keywordsWanted(client: TagsmithClient): Promise<boolean> {
  if (!vscode.workspace.getConfiguration('tagsmith.scan').get<boolean>('keywords', false)) return false;
  const status = (await client.health()).keywords;
  if (!status.installed)
    void vscode.window.showWarningMessage(
      `Tagsmith: this scan finds no objects: the keywords model is not installed (${status.reason ?? 'missing'}). Run \`${status.install ?? 'npm run models:keywords'}\` in the extension's folder and restart the engine.`,
    );
  return status.installed;
}

function workspaceRoots(): string[] {
  return scanRootsOf(vscode.workspace.workspaceFolders);
}

async function scanAndSummarise(context: ScanContext, paths: string[], label: string): Promise<void> {
  const { client, scanned, log } = context;
  if (!(await client.tags()).some((t) => t.trained)) {
    const choice = await vscode.window.showWarningMessage(
      "No tag is trained yet, so there is nothing to apply. Train one first (Tagsmith: Train Tag…), or scan now: the images' features are kept, so tagging them later is quick.",
      'Scan Anyway',
    );
    if (choice !== 'Scan Anyway') return;
  }
  const keywords = await keywordsWanted(client);
  const scan = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Tagsmith: tagging images in ${label}`, cancellable: true },
    async (progress, cancel) => {
      const task = client.scan(paths, { keywords });
      const stop = () => void task.cancel().catch(() => undefined);
      if (cancel.isCancellationRequested) stop();
      cancel.onCancellationRequested(stop);
      let shown = 0;
      task.onProgress((s) => {
        const percent = s.progress.total > 0 ? (100 * s.progress.done) / s.progress.total : 0;
        progress.report({ increment: percent - shown, message: progressMessage(s.progress) });
        shown = percent;
      });
      return task;
    },
  );
  log(
    `scan ${scan.scan_id} of ${paths.join(', ')}: ${scan.state}, ${scan.result?.images ?? 0} images, ${scan.progress.skipped} skipped, ${JSON.stringify(scan.result?.applies ?? {})}`,
  );
  void scanned.refresh();
  await offerScanActions(context, scan, label);
}

/**
 * The summary with its actions; after an action its outcome is shown with the same actions, so
 * one scan can be exported and written to sidecars in turn. Dismissing the message ends it.
 */
async function offerScanActions({ client, review }: ScanContext, scan: ScanView, label: string): Promise<void> {
  const summary = summariseScan(scan, label);
  const hasImages = (scan.result?.images ?? 0) > 0;
  // The scan's tags (the trained ones) can be reviewed over it: the least certain images first.
  const reviewable = Object.keys(scan.result?.applies ?? {}).sort();
  let text = summary.text;
  let warn = summary.warn;
  for (;;) {
    const actions = [
      ...(hasImages && reviewable.length > 0 ? [REVIEW] : []),
      ...(hasImages ? [EXPORT_CSV, EXPORT_JSONL, WRITE_XMP] : []),
      ...(summary.hasMore ? [SHOW_ALL] : []),
    ];
    const choice = warn ? await vscode.window.showWarningMessage(text, ...actions) : await vscode.window.showInformationMessage(text, ...actions);
    if (!choice) return;
    let outcome: string | undefined;
    if (choice === EXPORT_CSV) outcome = await exportScan(client, scan, label, 'csv');
    if (choice === EXPORT_JSONL) outcome = await exportScan(client, scan, label, 'jsonl');
    if (choice === WRITE_XMP) outcome = await writeSidecars(client, scan);
    if (choice === REVIEW) {
      const tag =
        reviewable.length === 1
          ? reviewable[0]
          : await vscode.window.showQuickPick(reviewable, { title: 'Review which tag?', placeHolder: 'The images that would teach it most come first' });
      if (tag) return review(tag);
      continue;
    }
    if (choice === SHOW_ALL) {
      const document = await vscode.workspace.openTextDocument({ language: 'markdown', content: scanDetails(scan, label, workspaceRoots()) });
      await vscode.window.showTextDocument(document, { preview: true });
    }
    // A dialog closed without choosing brings the summary back as it was.
    if (outcome) {
      text = outcome;
      warn = false;
    }
  }
}

async function exportScan(client: TagsmithClient, scan: ScanView, label: string, format: TableFormat): Promise<string | undefined> {
  const extension = format === 'csv' ? 'csv' : 'jsonl';
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri ?? vscode.Uri.file(os.homedir());
  const target = await vscode.window.showSaveDialog({
    title: format === 'csv' ? 'Export the scan as CSV' : 'Export the scan as JSON Lines',
    defaultUri: vscode.Uri.joinPath(folder, exportFileName(label, extension)),
    filters: format === 'csv' ? { CSV: ['csv'] } : { 'JSON Lines': ['jsonl'] },
  });
  if (!target) return undefined;
  await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Tagsmith: exporting' }, async () => {
    await vscode.workspace.fs.writeFile(target, Buffer.from(await client.exportScan(scan.scan_id, format), 'utf8'));
  });
  return `Exported ${count(scan.result?.images ?? 0)} images to ${vscode.workspace.asRelativePath(target)}.`;
}

/** A preview of what would be written (a modal with a sample), then the writing. */
async function writeSidecars(client: TagsmithClient, scan: ScanView): Promise<string | undefined> {
  const roots = workspaceRoots();
  const preview = sidecarPreview(
    await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Tagsmith: reading XMP sidecars' }, () =>
      client.scanSidecars(scan.scan_id, { action: 'preview', includeKeywords: scan.keywords === true }),
    ),
    roots,
  );
  if (preview.nothingToWrite) return preview.message;
  const choice = await vscode.window.showWarningMessage(preview.message, { modal: true, detail: preview.detail }, 'Write');
  if (choice !== 'Write') return undefined;
  const report = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Tagsmith: writing XMP sidecars' }, () =>
    client.scanSidecars(scan.scan_id, { action: 'write', includeKeywords: scan.keywords === true }),
  );
  return sidecarResult(report, roots);
}
