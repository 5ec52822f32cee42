// The state as a tar archive. Writing is the `tar` package's; reading an upload is done entry
// by entry here, because an archive is untrusted: only plain files and folders under the
// state's own top-level names are written, links/devices/absolute or `..` paths refuse the
// whole archive, and sizes and entry counts are capped so a bomb stops early.
import fs from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import * as tar from 'tar';
import { TagsmithError } from '../errors';
import { TEMP_MARKER } from './atomic-file';

export const ARCHIVE_ROOTS = ['manifest.json', 'images', 'features', 'tags', 'tasks'];

export interface ArchiveLimits {
  maxEntries: number;
  maxFileBytes: number;
  maxTotalBytes: number;
}

export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = {
  maxEntries: 100_000,
  maxFileBytes: 64 * 1024 * 1024,
  maxTotalBytes: 8 * 1024 * 1024 * 1024,
};

/**
 * Hard-links every file of the state into `snapshotDir`: instant, no copy, and unaffected by
 * later writes (they all replace files by rename). Sample lists go first and images last, so
 * every sample the snapshot lists has its image and features.
 */
export async function snapshotState(generationDir: string, snapshotDir: string): Promise<void> {
  await fs.mkdir(snapshotDir, { recursive: true });
  for (const root of ['manifest.json', 'tags', 'tasks', 'features', 'images']) {
    await linkTree(path.join(generationDir, root), path.join(snapshotDir, root));
  }
}

async function linkTree(from: string, to: string): Promise<void> {
  const stat = await fs.lstat(from).catch(() => undefined);
  if (!stat) return; // removed meanwhile (a cleaned tag): simply not in the snapshot
  if (stat.isDirectory()) {
    await fs.mkdir(to, { recursive: true });
    for (const name of await fs.readdir(from).catch(() => [])) {
      if (!name.includes(TEMP_MARKER)) await linkTree(path.join(from, name), path.join(to, name));
    }
  } else if (stat.isFile()) {
    await fs.link(from, to).catch(async (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return;
      if (error.code === 'EPERM' || error.code === 'EXDEV' || error.code === 'ENOTSUP') await fs.copyFile(from, to);
      else throw error;
    });
  }
}

/** A tar stream of a snapshot folder (see snapshotState). */
export function createStateArchive(snapshotDir: string): Readable {
  const out = new PassThrough();
  const pack = tar.create({ cwd: snapshotDir, portable: true }, ARCHIVE_ROOTS);
  pack.on('error', (error: unknown) => out.destroy(error as Error));
  pack.pipe(out);
  return out;
}

/** Unpacks an uploaded tar or tar.gz into `target` (an empty folder), or throws `invalid_archive`. */
export async function restoreStateArchive(archive: Readable, target: string, limits = DEFAULT_ARCHIVE_LIMITS): Promise<void> {
  const parser = new tar.Parser({ strict: true });
  const writes: Promise<void>[] = [];
  const seen = new Set<string>();
  let entries = 0;
  let total = 0;
  let refusal: TagsmithError | undefined;
  const refuse = (why: string) => {
    refusal ??= new TagsmithError('invalid_archive', `The archive was refused: ${why}. Nothing was changed.`);
    archive.unpipe(parser);
    archive.destroy();
    parser.abort(refusal);
  };

  parser.on('entry', (entry: tar.ReadEntry) => {
    if (refusal) return entry.resume();
    entries++;
    if (entries > limits.maxEntries) return refuse(`more than ${limits.maxEntries} entries`);
    const relative = checkEntryPath(entry.path);
    if (typeof relative !== 'string') return refuse(relative.why);
    if (entry.type === 'Directory') {
      writes.push(fs.mkdir(path.join(target, relative), { recursive: true }).then(() => undefined));
      return entry.resume();
    }
    if (entry.type !== 'File' && entry.type !== 'OldFile') return refuse(`${entry.path} is a ${entry.type}, and only plain files and folders are accepted`);
    if (seen.has(relative)) return refuse(`${entry.path} appears twice`);
    seen.add(relative);
    if (entry.size > limits.maxFileBytes) return refuse(`${entry.path} declares ${entry.size} bytes (limit ${limits.maxFileBytes})`);
    total += entry.size;
    if (total > limits.maxTotalBytes) return refuse(`the files add up to more than ${limits.maxTotalBytes} bytes`);
    const chunks: Buffer[] = [];
    let received = 0;
    entry.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > limits.maxFileBytes) return refuse(`${entry.path} is larger than declared`);
      chunks.push(chunk);
    });
    entry.on('end', () => {
      if (!refusal) writes.push(writeDurably(path.join(target, relative), Buffer.concat(chunks)));
    });
  });

  await new Promise<void>((resolve, reject) => {
    const fail = (error: unknown) => reject(refusal ?? new TagsmithError('invalid_archive', `The archive could not be read (${(error as Error).message}). Nothing was changed.`, { cause: error }));
    parser.on('error', fail);
    parser.on('warn', (code: string, message: string) => fail(new Error(`${code}: ${message}`)));
    archive.on('error', fail);
    parser.on('end', () => (refusal ? reject(refusal) : resolve()));
    parser.on('abort', fail);
    archive.pipe(parser);
  });
  await Promise.all(writes);
  if (refusal) throw refusal;
  if (entries === 0) throw new TagsmithError('invalid_archive', 'The archive is empty. Nothing was changed.');
}

/** The entry's path inside the state, or why it is refused. */
function checkEntryPath(raw: string): string | { why: string } {
  const p = raw.replace(/\/+$/, '');
  if (p.startsWith('/') || /^[a-zA-Z]:/.test(p) || p.includes('\\')) return { why: `${raw} is an absolute or Windows path` };
  const parts = p.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.some((s) => s === '..')) return { why: `${raw} climbs out with ..` };
  if (parts.some((s) => s.includes('\0'))) return { why: `${raw} holds a NUL byte` };
  if (parts.length === 0) return '.';
  if (!ARCHIVE_ROOTS.includes(parts[0])) return { why: `${raw} is not part of a Tagsmith state (${ARCHIVE_ROOTS.join(', ')})` };
  return parts.join('/');
}

async function writeDurably(file: string, data: Buffer): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  // 'wx': never write through something that already exists at that path.
  const handle = await fs.open(file, 'wx');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
