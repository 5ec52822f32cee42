// From what the user selected in the explorer (files and folders) to the images to send,
// with a reason for everything left out. No `vscode` here, so it is unit-tested directly.
import fs from 'node:fs/promises';
import path from 'node:path';
import { findImageFiles, hasImageExtension } from '../../kernel/images/image-files';
import { DEFAULT_MAX_UPLOAD, DEFAULT_MAX_UPLOAD_MB, IMAGE_KINDS } from '../../kernel/rules';

/** Why a file is left out for its name: what a user reads, wherever the file came from. */
export const NOT_AN_IMAGE_FILE = `not an image file (${IMAGE_KINDS})`;

export interface Skipped {
  file: string;
  reason: string;
}

export interface ImageSelection {
  images: string[];
  skipped: Skipped[];
}

/** Expands folders (recursively, skipping hidden entries), de-duplicates, keeps a stable order. */
export async function selectImages(paths: string[]): Promise<ImageSelection> {
  const found = await findImageFiles(paths);
  const images: string[] = [];
  const skipped: Skipped[] = found.skipped.map((s) => ({ file: s.path, reason: s.reason }));
  for (const file of found.files) {
    // Inside a folder only image names are taken; a file picked by hand is named if it is not one.
    if (!hasImageExtension(file.path)) skipped.push({ file: file.path, reason: NOT_AN_IMAGE_FILE });
    else if (file.size === 0) skipped.push({ file: file.path, reason: 'the file is empty' });
    // Larger than the engine's default upload limit: skipped before sending.
    else if (file.size > DEFAULT_MAX_UPLOAD) skipped.push({ file: file.path, reason: `larger than ${DEFAULT_MAX_UPLOAD_MB} MB` });
    else images.push(path.resolve(file.path));
  }
  return { images, skipped };
}

/** "12 added, 3 already there; skipped 2: a.txt (not an image file), b.jpg (truncated)". */
export function summariseAdding(result: { added: number; existing: number; skipped: Skipped[]; tag: string; type: string }): string {
  const parts = [`${result.added} added as ${result.type} of "${result.tag}"`];
  if (result.existing > 0) parts.push(`${result.existing} already there`);
  let text = parts.join(', ');
  if (result.skipped.length > 0) {
    const shown = result.skipped
      .slice(0, 5)
      .map((s) => `${path.basename(s.file)} (${s.reason})`)
      .join('; ');
    text += `. Skipped ${result.skipped.length}: ${shown}${result.skipped.length > 5 ? '; …' : ''}`;
  }
  return `${text}.`;
}

/** The images under these paths, read one by one when asked, and the reason for each file left out. */
export async function imageFilesUnder(
  paths: string[],
): Promise<{ files: { name: string; read: () => Promise<Uint8Array> }[]; skipped: { name: string; reason: string }[] }> {
  const selection = await selectImages(paths);
  const files = selection.images.map((file) => ({ name: path.basename(file), read: () => fs.readFile(file) }));
  return { files, skipped: selection.skipped.map((s) => ({ name: path.basename(s.file), reason: s.reason })) };
}
