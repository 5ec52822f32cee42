// Remove Tag…, Back Up State…, Restore State…: the whole state in and out of a tar file.
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import * as vscode from 'vscode';
import type { TagsmithClient } from '../../kernel/client/tagsmith-client';
import { pickTag } from '../ui/tag-picker';

export async function backUpState(client: TagsmithClient): Promise<vscode.Uri | undefined> {
  const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri ?? vscode.Uri.file(os.homedir());
  const target = await vscode.window.showSaveDialog({
    title: 'Back up the Tagsmith state',
    filters: { 'Tar archive': ['tar'] },
    defaultUri: vscode.Uri.joinPath(folder, `tagsmith-state-${stamp}.tar`),
  });
  if (!target) return undefined;
  await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Tagsmith: backing up' }, async () => {
    const stream = await client.getStateStream();
    await pipeline(Readable.fromWeb(stream as WebReadableStream<Uint8Array>), createWriteStream(target.fsPath));
  });
  void vscode.window.showInformationMessage(`Tagsmith state saved to ${target.fsPath}.`);
  return target;
}

export async function restoreState(client: TagsmithClient, afterRestore: () => void): Promise<void> {
  const [source] =
    (await vscode.window.showOpenDialog({
      title: 'Restore the Tagsmith state from',
      filters: { 'Tar archive': ['tar', 'tgz', 'gz'] },
      canSelectMany: false,
    })) ?? [];
  if (!source) return;
  const confirm = await vscode.window.showWarningMessage(
    `Replace every Tagsmith tag and sample with the contents of ${source.fsPath}?`,
    { modal: true, detail: 'The current state is replaced as a whole. Back it up first if you may want it again.' },
    'Replace',
  );
  if (confirm !== 'Replace') return;
  const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Tagsmith: restoring' }, async () =>
    client.setState(new Blob([await fs.readFile(source.fsPath)], { type: 'application/x-tar' })),
  );
  afterRestore();
  void vscode.window.showInformationMessage(`Tagsmith state restored: ${result.tags} tag${result.tags === 1 ? '' : 's'}, ${result.samples} samples.`);
}

export async function removeTag(client: TagsmithClient, afterRemove: () => void): Promise<void> {
  const tag = await pickTag(await client.tags(), { title: 'Remove which tag?', allowNew: false });
  if (!tag) return;
  const choice = await vscode.window.showWarningMessage(
    `Remove the tag "${tag}" with its samples and trained model?`,
    { modal: true, detail: 'This cannot be undone, except from a backup.' },
    'Back Up First…',
    'Remove',
  );
  if (choice === undefined) return;
  if (choice === 'Back Up First…' && !(await backUpState(client))) return;
  const result = await client.clean(tag);
  afterRemove();
  void vscode.window.showInformationMessage(`Removed "${tag}" (${result.removedSamples} samples).`);
}
