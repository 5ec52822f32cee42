// Editing a real /get_state archive as a user (or an attacker) could: unpack it into a map of
// entry path → bytes, change records, pack it again. Also a fingerprint of what a state holds,
// to show a refused archive changed nothing.
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar';
import { TagsmithApiError, type TagsmithClient } from '../../kernel/client/tagsmith-client';
import { tempDir } from './engine';

export type ArchiveFiles = Map<string, Buffer>;

export async function unpackArchive(archive: Uint8Array): Promise<ArchiveFiles> {
  const files: ArchiveFiles = new Map();
  const parser = new tar.Parser();
  parser.on('entry', (entry: tar.ReadEntry) => {
    if (entry.type !== 'File') return entry.resume();
    const chunks: Buffer[] = [];
    entry.on('data', (c: Buffer) => chunks.push(c));
    entry.on('end', () => files.set(entry.path, Buffer.concat(chunks)));
  });
  await new Promise<void>((resolve, reject) => {
    parser.on('end', resolve);
    parser.on('error', reject);
    Readable.from([Buffer.from(archive)]).pipe(parser);
  });
  return files;
}

/** A tar of the files (folders made as needed), as /get_state would write it. */
export async function packArchive(files: ArchiveFiles): Promise<Buffer> {
  const dir = await tempDir('tagsmith-pack-');
  try {
    for (const [name, data] of files) {
      await fs.mkdir(path.dirname(path.join(dir, name)), { recursive: true });
      await fs.writeFile(path.join(dir, name), data);
    }
    const chunks: Buffer[] = [];
    for await (const chunk of tar.create({ cwd: dir, portable: true }, [...new Set([...files.keys()].map((f) => f.split('/')[0]))]))
      chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

export function json(files: ArchiveFiles, name: string): any {
  const data = files.get(name);
  if (!data) throw new Error(`no ${name} in the archive (${[...files.keys()].join(', ')})`);
  return JSON.parse(data.toString('utf8'));
}

/** A copy of the files with one record replaced (or, with `rename`, moved to another path). */
export function withRecord(files: ArchiveFiles, name: string, value: unknown, rename = name): ArchiveFiles {
  const copy = new Map(files);
  copy.delete(name);
  copy.set(rename, Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)));
  return copy;
}

export function findFile(files: ArchiveFiles, pattern: RegExp): string {
  const found = [...files.keys()].find((f) => pattern.test(f));
  if (!found) throw new Error(`no file matches ${pattern} (${[...files.keys()].join(', ')})`);
  return found;
}

/** What a state holds, as a user sees it: its tags and the content of every archived file. */
export async function fingerprint(client: TagsmithClient): Promise<string> {
  const files = await unpackArchive(await client.getState());
  const digest = [...files].map(([name, data]) => `${name} ${crypto.createHash('sha256').update(data).digest('hex')}`).sort();
  return JSON.stringify({ tags: await client.tags(), tasks: await client.tasks(), files: digest });
}

/** Posts an archive; the reply's status and error (if any). */
export async function postArchive(client: TagsmithClient, archive: Buffer): Promise<{ status: number; code?: string; message?: string }> {
  try {
    await client.setState(archive);
    return { status: 200 };
  } catch (error) {
    if (error instanceof TagsmithApiError) return { status: error.status, code: error.code, message: error.message };
    throw error;
  }
}
