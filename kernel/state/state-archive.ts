// The state as a tar archive. Writing is the `tar` package's; reading an upload is done entry
// by entry here, because an archive is untrusted: only plain files and folders under the
// state's own paths are written (each name in them passes the rule it has from a URL), links,
// devices, absolute or `..` paths refuse the whole archive, and sizes and entry counts are
// capped so a bomb stops early.
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import * as tar from 'tar';
import { TagsmithError } from '../errors';
import { syncDirectory, TEMP_MARKER } from './atomic-file';
import { classifyStatePath, STATE_ROOTS } from './state-layout';

export const ARCHIVE_ROOTS = STATE_ROOTS;

export interface ArchiveLimits {
  maxEntries: number;
  maxFileBytes: number;
  maxTotalBytes: number;
}

export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = {
  maxEntries: 100_000,
  maxFileBytes: 64 * 1024 * 1024,
  maxTotalBytes: 2 * 1024 * 1024 * 1024,
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

/**
 * A tar stream of a snapshot folder (see snapshotState). `onReleased` runs once the packer has
 * closed every file it opened: at the archive's end, on an error, or after the reader went
 * away (a download cut off). tar's packer cannot be aborted, and left paused it would keep
 * its current file open for good; so it is then run to its end with its output dropped.
 */
export function createStateArchive(snapshotDir: string, onReleased: () => void = () => {}): Readable {
  const out = new PassThrough();
  const pack = tar.create({ cwd: snapshotDir, portable: true }, ARCHIVE_ROOTS);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    onReleased();
  };
  pack.on('end', release);
  pack.on('error', (error: unknown) => {
    out.destroy(error as Error);
    release();
  });
  out.on('close', () => {
    if (released) return;
    pack.unpipe(out);
    pack.resume();
  });
  pack.pipe(out);
  return out;
}

/**
 * Unpacks an uploaded tar or tar.gz into `target` (an empty folder), or throws
 * `invalid_archive`. Two passes: the upload is checked entry by entry while it is spooled to
 * `spoolFile`, writing nothing else, so a hostile archive (a million entries, a bomb) is
 * refused as soon as it shows; only a clean archive is then unpacked from the spool. Files
 * are not fsynced here; call `syncTree` before making the folder the state.
 */
export async function restoreStateArchive(archive: Readable, target: string, spoolFile: string, limits = DEFAULT_ARCHIVE_LIMITS): Promise<void> {
  try {
    const spool = await fs.open(spoolFile, 'w');
    try {
      await readArchive(archive, limits, async (chunk) => {
        await spool.write(chunk);
      });
    } finally {
      await spool.close();
    }
    await readArchive(createReadStream(spoolFile), limits, undefined, async (relative, data) => {
      try {
        if (data === undefined) await fs.mkdir(path.join(target, relative), { recursive: true });
        else await writeNew(path.join(target, relative), data);
      } catch (error) {
        // Two names one file system takes for the same (case, Unicode forms), or a full disk.
        const code = (error as NodeJS.ErrnoException).code ?? 'error';
        throw new TagsmithError('invalid_archive', `The archive was refused: ${relative} could not be written (${code}). Nothing was changed.`, {
          cause: error,
        });
      }
    });
  } finally {
    await fs.rm(spoolFile, { force: true });
  }
}

/**
 * Parses a tar stream, applying every rule, and hands each accepted file (or folder, with no
 * data) to `onEntry` in order. `onChunk` sees the raw bytes as they arrive (the spool).
 */
async function readArchive(
  source: AsyncIterable<unknown> & { destroy(): void },
  limits: ArchiveLimits,
  onChunk?: (chunk: Buffer) => Promise<void>,
  onEntry?: (relative: string, data: Buffer | undefined) => Promise<void>,
): Promise<void> {
  const parser = new tar.Parser({ strict: true });
  let refusal: TagsmithError | undefined;
  let failure: unknown;
  const refuse = (why: string) => {
    refusal ??= new TagsmithError('invalid_archive', `The archive was refused: ${why}. Nothing was changed.`);
  };
  let entries = 0;
  let total = 0;
  const seen = new Set<string>();
  // Entries are handled one at a time, in order; reading waits when too many are pending.
  let handling: Promise<void> = Promise.resolve();
  let pending = 0;
  const handle = (relative: string, data: Buffer | undefined) => {
    if (!onEntry) return;
    pending++;
    handling = handling
      .then(() => onEntry(relative, data))
      .catch((error: unknown) => {
        failure ??= error;
      })
      .finally(() => {
        pending--;
      });
  };

  parser.on('entry', (entry: tar.ReadEntry) => {
    const skip = (why?: string) => {
      if (why) refuse(why);
      entry.resume();
    };
    if (refusal) return skip();
    entries++;
    if (entries > limits.maxEntries) return skip(`more than ${limits.maxEntries} entries`);
    const relative = checkEntryPath(entry.path);
    if (typeof relative !== 'string') return skip(relative.why);
    if (entry.type === 'Directory') {
      const place = classifyStatePath(relative === '.' ? [] : relative.split('/'), true);
      if ('why' in place) return skip(place.why);
      handle(relative, undefined);
      return skip();
    }
    if (entry.type !== 'File' && entry.type !== 'OldFile') return skip(`${entry.path} is a ${entry.type}, and only plain files and folders are accepted`);
    if (seen.has(relative)) return skip(`${entry.path} appears twice`);
    seen.add(relative);
    if (entry.size > limits.maxFileBytes) return skip(`${entry.path} declares ${entry.size} bytes (limit ${limits.maxFileBytes})`);
    total += entry.size;
    if (total > limits.maxTotalBytes) return skip(`the files add up to more than ${limits.maxTotalBytes} bytes`);
    const place = classifyStatePath(relative === '.' ? [] : relative.split('/'), false);
    if ('why' in place) return skip(place.why);
    if (!onEntry) return skip();
    const chunks: Buffer[] = [];
    entry.on('data', (chunk: Buffer) => chunks.push(chunk));
    entry.on('end', () => {
      if (!refusal) handle(relative, Buffer.concat(chunks));
    });
  });
  parser.on('warn', (code: string, message: string) => {
    failure ??= new Error(`${code}: ${message}`);
  });
  parser.on('error', (error: unknown) => {
    failure ??= error;
  });
  const ended = new Promise<void>((resolve) => parser.on('end', resolve));
  // The archive ends at its end-of-archive marker (two zero blocks). Past it, only a little
  // more is read (record padding, a gzip trailer): tar's parser keeps whatever follows,
  // growing its buffer chunk by chunk (quadratic time), so a marker followed by a gigabyte of
  // anything would hold the upload for minutes.
  let sawEnd = false;
  let afterEnd = 0;
  parser.on('eof', () => {
    sawEnd = true;
  });

  try {
    let received = 0;
    for await (const raw of source) {
      const chunk = raw as Buffer;
      received += chunk.length;
      await onChunk?.(chunk);
      if (!parser.write(chunk)) await new Promise((resolve) => parser.once('drain', resolve));
      while (pending > 16) await handling;
      if (refusal || failure) break;
      if (sawEnd && (afterEnd += chunk.length) > MAX_AFTER_END_BYTES) break;
    }
    if (received === 0) refuse('the upload is empty');
    if (!refusal && !failure) {
      parser.end();
      await ended;
    }
  } catch (error) {
    failure ??= error;
  } finally {
    source.destroy();
  }
  await handling;
  if (refusal) throw refusal;
  if (failure) {
    if (failure instanceof TagsmithError) throw failure;
    throw new TagsmithError('invalid_archive', `The archive could not be read (${(failure as Error).message}). Nothing was changed.`, { cause: failure });
  }
  if (entries === 0) throw new TagsmithError('invalid_archive', 'The archive has no entries. Nothing was changed.');
}

/** What may follow an archive's end-of-archive marker and still be read. */
const MAX_AFTER_END_BYTES = 1024 * 1024;

/** fsyncs every file and folder under `dir`, so a state swapped in afterwards is on disk. */
export async function syncTree(dir: string): Promise<void> {
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await syncTree(full);
    else if (entry.isFile()) {
      const handle = await fs.open(full, 'r');
      await handle.sync().finally(() => handle.close());
    }
  }
  await syncDirectory(dir);
}

/** The entry's path inside the state, or why it is refused. */
function checkEntryPath(raw: string): string | { why: string } {
  const p = raw.replace(/\/+$/, '');
  if (p.startsWith('/') || /^[a-zA-Z]:/.test(p) || p.includes('\\')) return { why: `${raw} is an absolute or Windows path` };
  const parts = p.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.some((s) => s === '..')) return { why: `${raw} climbs out with ..` };
  if (parts.some((s) => s.includes('\0'))) return { why: `${raw} holds a NUL byte` };
  if (parts.length === 0) return '.';
  return parts.join('/');
}

async function writeNew(file: string, data: Buffer): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  // 'wx': never write through something that already exists at that path.
  await fs.writeFile(file, data, { flag: 'wx' });
}
