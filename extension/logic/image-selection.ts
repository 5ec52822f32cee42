// From what the user selected in the explorer (files and folders) to the images to send,
// with a reason for everything left out. No `vscode` here, so it is unit-tested directly.
import fs from 'node:fs/promises';
import path from 'node:path';
import { hasImageExtension } from '../../kernel/images/image-files';

/** Files larger than the engine's default upload limit are skipped before sending. */
export const MAX_IMAGE_BYTES = 50 * 1024 * 1024;

export interface Skipped {
  file: string;
  reason: string;
}

export interface ImageSelection {
  images: string[];
  skipped: Skipped[];
}


/** Expands folders (recursively, skipping hidden ones), de-duplicates, keeps a stable order. */
export async function selectImages(paths: string[]): Promise<ImageSelection> {
  const images = new Set<string>();
  const skipped: Skipped[] = [];
  const visit = async (file: string, explicit: boolean): Promise<void> => {
    const stat = await fs.stat(file).catch(() => undefined);
    if (!stat) return void skipped.push({ file, reason: 'it no longer exists' });
    if (stat.isDirectory()) {
      const entries = (await fs.readdir(file)).filter((name) => !name.startsWith('.')).sort();
      for (const name of entries) await visit(path.join(file, name), false);
      return;
    }
    if (!stat.isFile()) return;
    if (!hasImageExtension(file)) {
      // Inside a folder, non-images are expected (a README, a .DS_Store): say so only for files picked by hand.
      if (explicit) skipped.push({ file, reason: 'not an image file (jpg, png, webp, gif, tiff or avif)' });
      return;
    }
    if (stat.size === 0) return void skipped.push({ file, reason: 'the file is empty' });
    if (stat.size > MAX_IMAGE_BYTES) return void skipped.push({ file, reason: `larger than ${MAX_IMAGE_BYTES / 2 ** 20} MB` });
    images.add(path.resolve(file));
  };
  for (const p of paths) await visit(p, true);
  return { images: [...images], skipped };
}

/** "12 added, 3 already there; skipped 2: a.txt (not an image file), b.jpg (truncated)". */
export function summariseAdding(result: { added: number; existing: number; skipped: Skipped[]; tag: string; type: string }): string {
  const parts = [`${result.added} added as ${result.type} of "${result.tag}"`];
  if (result.existing > 0) parts.push(`${result.existing} already there`);
  let text = parts.join(', ');
  if (result.skipped.length > 0) {
    const shown = result.skipped.slice(0, 5).map((s) => `${path.basename(s.file)} (${s.reason})`).join('; ');
    text += `. Skipped ${result.skipped.length}: ${shown}${result.skipped.length > 5 ? '; …' : ''}`;
  }
  return `${text}.`;
}

/** The images under these paths, read one by one when asked, and the reason for each file left out. */
export async function imageFilesUnder(paths: string[]): Promise<{ files: { name: string; read: () => Promise<Uint8Array> }[]; skipped: { name: string; reason: string }[] }> {
  const selection = await selectImages(paths);
  const files = selection.images.map((file) => ({ name: path.basename(file), read: () => fs.readFile(file) }));
  return { files, skipped: selection.skipped.map((s) => ({ name: path.basename(s.file), reason: s.reason })) };
}
