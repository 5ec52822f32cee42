// What a notebook passes as images: paths (relative to the notebook's folder), folders, glob
// patterns (`photos/*.jpg`, `shoot/**/*.png`) or bytes. Expanded to a stable, de-duplicated list.
import fs from 'node:fs/promises';
import path from 'node:path';
import { findImageFiles } from '../images/image-files';

export type ImageSource = string | Uint8Array;

export interface NamedImage {
  name: string;
  read(): Promise<Uint8Array>;
}

const GLOB_CHARS = /[*?[]/;

export async function expandImageSources(sources: ImageSource | ImageSource[], baseDir: string): Promise<NamedImage[]> {
  const list = Array.isArray(sources) ? sources : [sources];
  const out = new Map<string, NamedImage>();
  for (const [i, source] of list.entries()) {
    if (typeof source !== 'string') {
      out.set(`bytes:${i}`, { name: `image ${i + 1}`, read: async () => source });
      continue;
    }
    for (const file of await expandPath(path.resolve(baseDir, source))) {
      out.set(file, { name: path.relative(baseDir, file) || path.basename(file), read: () => fs.readFile(file) });
    }
  }
  return [...out.values()];
}

async function expandPath(absolute: string): Promise<string[]> {
  if (!GLOB_CHARS.test(absolute)) {
    const { files, skipped } = await findImageFiles([absolute]);
    if (files.length === 0 && skipped.length > 0) throw new Error(`${absolute}: ${skipped[0].reason}`);
    return files.map((f) => f.path);
  }
  // The folder before the first segment with a wildcard is walked; the rest is matched.
  const segments = absolute.split(path.sep);
  const firstGlob = segments.findIndex((s) => GLOB_CHARS.test(s));
  const root = segments.slice(0, firstGlob).join(path.sep) || path.sep;
  const pattern = globToRegExp(segments.slice(firstGlob).join('/'));
  const depth = segments.slice(firstGlob).includes('**') ? Infinity : segments.length - firstGlob - 1;
  const { files } = await findImageFiles([root], { maxDepth: depth });
  return files.map((f) => f.path).filter((f) => pattern.test(path.relative(root, f).split(path.sep).join('/')));
}

/** `*` within a segment, `**` across segments, `?` one character, `[abc]` a class. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') {
      re += glob[i + 2] === '/' ? '(?:.*/)?' : '.*';
      i += glob[i + 2] === '/' ? 2 : 1;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i);
      if (end < 0) re += '\\[';
      else {
        re += `[${glob.slice(i + 1, end).replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 'i');
}
