// Atomic file writes: a crash leaves the previous content or the next, never half of either.
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

/** Temporary files carry this marker so start-up clean-up can find what a crash left behind. */
export const TEMP_MARKER = '.tmp-';

export async function writeFileAtomic(file: string, data: Uint8Array | string): Promise<void> {
  const temp = `${file}${TEMP_MARKER}${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  const handle = await fs.open(temp, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.rename(temp, file);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
  await syncDirectory(path.dirname(file));
}

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(value, null, 1)}\n`);
}

/** Makes a rename durable: the directory entry itself must reach the disk. */
export async function syncDirectory(dir: string): Promise<void> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(dir, 'r');
    await handle.sync();
  } catch {
    // Some platforms (Windows) cannot open a directory for fsync; the rename is still atomic.
  } finally {
    await handle?.close();
  }
}

export async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
