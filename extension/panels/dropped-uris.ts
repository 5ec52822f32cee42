// Explorer items dropped on a grid arrive as URI strings. Local files and folders go through
// the same selection as the explorer commands; other schemes (remote workspaces) are read
// through VS Code's file system.
import path from 'node:path';
import * as vscode from 'vscode';
import { hasImageExtension } from '../../kernel/images/image-files';
import { imageFilesUnder, NOT_AN_IMAGE_FILE } from '../logic/image-selection';
import type { DroppedImages } from './panel-requests';

export async function readDroppedUris(uriStrings: string[]): Promise<DroppedImages> {
  const uris = uriStrings.map((u) => vscode.Uri.parse(u, true));
  const local = await imageFilesUnder(uris.filter((u) => u.scheme === 'file').map((u) => u.fsPath));
  for (const uri of uris.filter((u) => u.scheme !== 'file')) {
    const name = path.posix.basename(uri.path);
    if (!hasImageExtension(name)) local.skipped.push({ name, reason: NOT_AN_IMAGE_FILE });
    else local.files.push({ name, read: () => Promise.resolve(vscode.workspace.fs.readFile(uri)) });
  }
  return local;
}
