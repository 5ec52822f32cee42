// Explorer → "Add as Positive/Negative Sample…": every image in the selection (folders
// expanded) is sent to the engine with a cancellable progress notification and a summary.
import fs from 'node:fs/promises';
import path from 'node:path';
import * as vscode from 'vscode';
import { addImages } from '../../kernel/client/add-many';
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
  const tag = await pickTag(await client.tags(), {
    title: `Add ${selection.images.length} image${selection.images.length === 1 ? '' : 's'} as ${type} samples of…`,
    allowNew: true,
  });
  if (!tag) return;

  const result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Tagsmith: adding to "${tag}"`, cancellable: true },
    (progress, cancel) =>
      addImages(
        client,
        type,
        tag,
        selection.images.map((file) => ({ name: path.basename(file), read: () => fs.readFile(file) })),
        {
          cancelled: () => cancel.isCancellationRequested,
          onProgress: (done, total) => progress.report({ increment: 100 / total, message: `${done}/${total} added` }),
        },
      ),
  );
  const skipped: Skipped[] = [...selection.skipped, ...result.skipped.map((s) => ({ file: s.name, reason: s.reason }))];
  const { added, existing } = result;
  const summary = summariseAdding({ added, existing, skipped, tag, type });
  if (skipped.length > 0) void vscode.window.showWarningMessage(summary);
  else void vscode.window.showInformationMessage(summary);
}
