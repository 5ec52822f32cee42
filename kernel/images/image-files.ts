// Which files count as images when a user points at files and folders: one walker for the
// CLI, the notebook, the explorer's selection and folder scans, so they all agree.
import type { Dirent, Stats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { TagsmithError } from '../errors';
import { IMAGE_EXTENSIONS } from '../rules';

export function hasImageExtension(file: string): boolean {
  return IMAGE_EXTENSIONS.includes(path.extname(file).toLowerCase());
}

export interface FoundFile {
  /** As given for an input file; joined onto the given folder for a file found in one. */
  path: string;
  size: number;
  mtimeMs: number;
  /** Named by the user rather than found in a folder. */
  explicit: boolean;
}

export interface SkippedPath {
  path: string;
  reason: string;
}

export interface FindOptions {
  /** How many folder levels below a given folder to enter (default: all). */
  maxDepth?: number;
  /**
   * Folders (real paths) that every file and folder must really lie in: a path, or a link
   * inside them, that leads elsewhere is skipped. Unset: anywhere.
   */
  within?: readonly string[];
}

/**
 * Whether `real` (a real path) is one of `roots` or lies inside one. `flavour` is the platform's
 * path module (path.win32 in tests of Windows' rules): Windows compares names without case, so
 * `c:\photos\a.jpg` lies in `C:\Photos`.
 */
export function isWithin(real: string, roots: readonly string[], flavour: path.PlatformPath = path): boolean {
  const key = flavour.sep === '\\' ? (p: string) => p.toLowerCase() : (p: string) => p;
  const file = key(real);
  return roots.some((root) => {
    const folder = key(root);
    return file === folder || file.startsWith(folder.endsWith(flavour.sep) ? folder : folder + flavour.sep);
  });
}

/**
 * Whether `p` names one place on this machine whatever the current folder and drive: POSIX `/…`;
 * on Windows a drive letter and a separator (`C:\…`) or a UNC share (`\\server\share\…`), not
 * `\photos`, which path.win32.isAbsolute accepts but which depends on the current drive.
 */
export function isFullPath(p: string, flavour: path.PlatformPath = path): boolean {
  if (p.includes('\0')) return false;
  if (flavour.sep === '\\') return /^[a-zA-Z]:[\\/]/.test(p) || /^[\\/]{2}[^\\/]+[\\/][^\\/]+/.test(p);
  return flavour.isAbsolute(p);
}

/**
 * The files under `inputs`. A file given by name is taken whatever its extension (the caller
 * decides what to say about it); folders are walked for files with an image extension, in
 * code-point order of their names, skipping hidden entries (`.git`, `.thumbnails`).
 * Symbolic links are followed, but a folder is entered once however many links lead to it,
 * so a link loop ends. A path that cannot be read is skipped with the reason; the rest go on.
 */
export async function findImageFiles(inputs: string[], options: FindOptions = {}): Promise<{ files: FoundFile[]; skipped: SkippedPath[] }> {
  const files: FoundFile[] = [];
  const skipped: SkippedPath[] = [];
  const seenFiles = new Set<string>();
  const enteredFolders = new Set<string>();
  const maxDepth = options.maxDepth ?? Infinity;

  const add = (file: string, stat: { size: number; mtimeMs: number }, explicit: boolean) => {
    const key = path.resolve(file);
    if (seenFiles.has(key)) return;
    seenFiles.add(key);
    files.push({ path: file, size: stat.size, mtimeMs: stat.mtimeMs, explicit });
  };

  const outside = async (entry: string): Promise<boolean> => {
    if (!options.within) return false;
    const real = await fs.realpath(entry).catch(() => undefined);
    if (real !== undefined && isWithin(real, options.within)) return false;
    skipped.push({ path: entry, reason: 'outside the folders this engine may read (tagsmith serve --scan-root)' });
    return true;
  };

  const walk = async (folder: string, depth: number): Promise<void> => {
    const real = await fs.realpath(folder).catch(() => folder);
    if (enteredFolders.has(real)) {
      skipped.push({ path: folder, reason: 'a link to a folder already walked (a loop, or the same folder twice)' });
      return;
    }
    enteredFolders.add(real);
    let entries: Dirent[];
    try {
      entries = (await fs.readdir(folder, { withFileTypes: true }))
        .filter((e) => !e.name.startsWith('.'))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    } catch (error) {
      skipped.push({ path: folder, reason: `the folder cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})` });
      return;
    }
    const stats = await statAll(entries.map((dirent) => path.join(folder, dirent.name)));
    for (const [i, dirent] of entries.entries()) {
      const name = dirent.name;
      const entry = path.join(folder, name);
      const stat = stats[i];
      if (stat instanceof Error) {
        // Only a dangling link gets here between readdir and stat (or a file deleted meanwhile).
        if (hasImageExtension(name) || stat.code === 'ELOOP') skipped.push({ path: entry, reason: unreadableReason(stat) });
        continue;
      }
      // Only a link can lead out of a folder that is itself inside the allowed ones.
      const leadsOut = () => dirent.isSymbolicLink() && outside(entry);
      if (stat.isDirectory()) {
        if (depth < maxDepth && !(await leadsOut())) await walk(entry, depth + 1);
      } else if (stat.isFile() && hasImageExtension(name)) {
        if (!(await leadsOut())) add(entry, stat, false);
      }
    }
  };

  for (const input of inputs) {
    const stat = await fs.stat(input).catch((error: NodeJS.ErrnoException) => error);
    if (stat instanceof Error) skipped.push({ path: input, reason: unreadableReason(stat) });
    else if (await outside(input)) continue;
    else if (stat.isDirectory()) await walk(input, 0);
    else if (stat.isFile()) add(input, stat, true);
    else skipped.push({ path: input, reason: 'not a file or folder' });
  }
  return { files, skipped };
}

/** The image files under `inputs`, paths only; an unreadable input is handed to `onUnreadable` (by default it throws). */
export async function listImageFiles(inputs: string[], onUnreadable: (input: string, error: TagsmithError) => void = throwIt): Promise<string[]> {
  const { files, skipped } = await findImageFiles(inputs);
  for (const s of skipped) onUnreadable(s.path, new TagsmithError('not_found', s.reason));
  return files.map((f) => f.path);
}

/**
 * Each path's stat or its error, in order, STATS_IN_FLIGHT at a time: one after the other, the
 * walk of a folder of photos was a pause of its own before a scan's first image (40 ms for 398
 * files on the 2-core VM), each call waiting out a hand-off to libuv's threads.
 */
async function statAll(paths: string[]): Promise<(Stats | NodeJS.ErrnoException)[]> {
  const out: (Stats | NodeJS.ErrnoException)[] = [];
  for (let start = 0; start < paths.length; start += STATS_IN_FLIGHT) {
    const chunk = paths.slice(start, start + STATS_IN_FLIGHT);
    out.push(...(await Promise.all(chunk.map((p) => fs.stat(p).catch((error: NodeJS.ErrnoException) => error)))));
  }
  return out;
}

const STATS_IN_FLIGHT = 64;

function unreadableReason(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ENOENT':
      return 'there is no such file or folder (or it is a link to nothing)';
    case 'ELOOP':
      return 'a link that leads back to itself';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    default:
      return `it cannot be read (${error.code ?? error.message})`;
  }
}

function throwIt(_input: string, error: TagsmithError): never {
  throw error;
}
