// "Remove Tagsmith Keywords from XMP Sidecars…" (from the sidecars of a scan's images, after a
// modal naming what was scanned) and "Clear Feature Cache".
import * as vscode from 'vscode';
import type { ScanView, TagsmithClient } from '../../kernel/client/tagsmith-client';
import { isUnder, scanRootsOf } from '../logic/scan-roots';
import { count, formatBytes, plural, scanChoice, scanLabel, sidecarResult } from '../logic/scan-text';

/**
 * The engine takes keywords out of the sidecars of one scan's images: choose the scan (of those
 * covering the explorer's selection, if any), confirm, remove.
 */
export async function removeSidecarKeywords(client: TagsmithClient, uris: vscode.Uri[]): Promise<void> {
  const roots = scanRootsOf(vscode.workspace.workspaceFolders);
  const selected = uris.filter((u) => u.scheme === 'file').map((u) => u.fsPath);
  const scans = (await client.scans()).filter(
    (s) =>
      (s.state === 'done' || s.state === 'cancelled') &&
      s.inputs.every((input) => roots.some((root) => isUnder(input, root))) &&
      selected.every((p) => s.inputs.some((input) => isUnder(p, input))),
  );
  if (scans.length === 0) {
    void vscode.window.showInformationMessage(
      `Tagsmith has no scan of ${selected.length > 0 ? scanLabel(selected, roots) : 'this workspace'} to clean up: keywords are taken out of the XMP sidecars of a scan's images, so tag the folder first (Tagsmith: Tag Images in Folder…).`,
    );
    return;
  }
  let scan: ScanView | undefined = scans[0];
  if (scans.length > 1) {
    const now = Date.now();
    const picked = await vscode.window.showQuickPick(
      scans.map((s) => ({ ...scanChoice(s, roots, now), scan: s })),
      {
        title: "Remove Tagsmith keywords from the XMP sidecars of which scan's images?",
      },
    );
    scan = picked?.scan;
  }
  if (!scan) return;
  const images = scan.result?.images ?? scan.progress.done;
  const choice = await vscode.window.showWarningMessage(
    `Remove the keywords Tagsmith wrote from the XMP sidecars of the ${plural(images, 'image')} scanned in ${scanLabel(scan.inputs, roots)}?`,
    { modal: true, detail: 'Only keywords Tagsmith added are taken out; other keywords and metadata stay. A sidecar left with nothing in it is deleted.' },
    'Remove',
  );
  if (choice !== 'Remove') return;
  const target = scan;
  const report = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Tagsmith: removing keywords' }, () =>
    client.scanSidecars(target.scan_id, { action: 'remove' }),
  );
  const text = sidecarResult(report, roots);
  if (report.failed.length > 0) void vscode.window.showWarningMessage(text);
  else void vscode.window.showInformationMessage(text);
}

export async function clearFeatureCache(client: TagsmithClient): Promise<void> {
  const cleared = await client.clearFeatureCache();
  void vscode.window.showInformationMessage(
    cleared.entries === 0
      ? 'The feature cache was empty.'
      : `Cleared the feature cache: the features of ${count(cleared.entries)} images (${formatBytes(cleared.bytes)}). Folders are embedded again when next tagged.`,
  );
}
