// Which files count as images when a user points at files and folders.
import fs from 'node:fs/promises';
import path from 'node:path';
import { TagsmithError } from '../errors';

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif'];

export function hasImageExtension(file: string): boolean {
  return IMAGE_EXTENSIONS.includes(path.extname(file).toLowerCase());
}

/**
 * Files are taken as given (a wrong one gets a clear error later); folders are walked
 * recursively for files with an image extension, in name order. An input that cannot be
 * read is handed to `onUnreadable` and the others are still listed (by default it throws).
 */
export async function listImageFiles(inputs: string[], onUnreadable: (input: string, error: TagsmithError) => void = throwIt): Promise<string[]> {
  const files: string[] = [];
  for (const input of inputs) {
    const stat = await fs.stat(input).catch((error: NodeJS.ErrnoException) => {
      onUnreadable(input, new TagsmithError('not_found', error.code === 'ENOENT' ? 'There is no such file or folder.' : `It cannot be read (${error.code ?? error.message}).`, { cause: error }));
    });
    if (!stat) continue;
    if (!stat.isDirectory()) {
      files.push(input);
      continue;
    }
    const entries = await fs.readdir(input, { recursive: true, withFileTypes: true });
    files.push(
      ...entries
        .filter((e) => e.isFile() && hasImageExtension(e.name))
        .map((e) => path.join(e.parentPath, e.name))
        .sort(),
    );
  }
  return files;
}

function throwIt(_input: string, error: TagsmithError): never {
  throw error;
}
