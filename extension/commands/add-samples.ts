// Explorer → "Add as Positive/Negative Sample…": every image in the selection (folders
// expanded) is sent to the engine with a cancellable progress notification and a summary.
import fs from 'node:fs/promises';
import path from 'node:path';
import * as vscode from 'vscode';
import type { SampleType, TagsmithClient } from '../../kernel/client/tagsmith-client';
import { selectImages, summariseAdding, type Skipped } from '../logic/image-selection';
import { pickTag } from '../ui/tag-picker';

export async function addSamples(client: TagsmithClient, type: SampleType, uris: vscode.Uri[]): Promise<void> {
  if (uris.length === 0) {
    const picked = await vscode.window.showOpenDialog({ canSelectMany: true, canSelectFolders: true, title: `Images to add as ${type} samples` });
    if (!picked) return;
    uris = picked;
  }
  const selection = await selectImages(uris.filter((u) => u.scheme === 'file').map((u) => u.fsPath));
  if (selection.images.length === 0) {
    void vscode.window.showWarningMessage(`No images to add. ${selection.skipped.map((s) => `${path.basename(s.file)}: ${s.reason}`).join('; ')}`);
    return;
  }
  const tag = await pickTag(await client.tags(), { title: `Add ${selection.images.length} image${selection.images.length === 1 ? '' : 's'} as ${type} samples of…`, allowNew: true });
  if (!tag) return;

  const skipped: Skipped[] = [...selection.skipped];
  let added = 0;
  let existing = 0;
  await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Tagsmith: adding to "${tag}"`, cancellable: true },
    async (progress, cancel) => {
      const total = selection.images.length;
      for (const [i, file] of selection.images.entries()) {
        if (cancel.isCancellationRequested) {
          skipped.push(...selection.images.slice(i).map((f) => ({ file: f, reason: 'cancelled' })));
          break;
        }
        try {
          const result = await client.addSample(type, tag, await fs.readFile(file), path.basename(file));
          if (result.added) added++;
          else existing++;
        } catch (error) {
          const e = error as { code?: string; message?: string };
          // A conflicting or broken image is the user's to know about, not a reason to stop.
          if (e.code === 'not_an_image' || e.code === 'image_too_large' || e.code === 'conflicting_sample' || e.code === 'payload_too_large') {
            skipped.push({ file, reason: e.message ?? String(error) });
          } else {
            throw error;
          }
        }
        progress.report({ increment: 100 / total, message: `${i + 1}/${total} added` });
      }
    },
  );
  const summary = summariseAdding({ added, existing, skipped, tag, type });
  if (skipped.length > 0) void vscode.window.showWarningMessage(summary);
  else void vscode.window.showInformationMessage(summary);
}
