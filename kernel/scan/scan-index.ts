// What a scan knows about files it has read: path → size, mtime and the sha256 of the bytes.
// A file whose size and mtime are unchanged is taken to hold the same bytes, so a rescan of an
// unchanged folder only stats it; the features come from the cache by that sha256. Like the
// feature cache it is derived data: kept beside the state, never archived, rebuilt if lost.
import fs from 'node:fs/promises';
import path from 'node:path';
import { readJson, writeJsonAtomic } from '../state/atomic-file';

const INDEX_NAME = 'tagsmith-scan-index';
const INDEX_FORMAT = 1;
const HASH = /^[0-9a-f]{64}$/;

interface IndexEntry {
  size: number;
  mtimeMs: number;
  sha256: string;
}

export class ScanIndex {
  private dirty = false;

  private constructor(
    private readonly file: string,
    private readonly entries: Map<string, IndexEntry>,
  ) {}

  /** Loads the index; a missing or damaged one starts empty (everything is hashed again). */
  static async open(file: string): Promise<ScanIndex> {
    const value = await readJson<{ name?: unknown; formatVersion?: unknown; files?: unknown }>(file).catch(() => undefined);
    const entries = new Map<string, IndexEntry>();
    if (value?.name === INDEX_NAME && value.formatVersion === INDEX_FORMAT && value.files && typeof value.files === 'object') {
      for (const [file, entry] of Object.entries(value.files as Record<string, Partial<IndexEntry>>)) {
        if (Number.isFinite(entry?.size) && Number.isFinite(entry?.mtimeMs) && typeof entry?.sha256 === 'string' && HASH.test(entry.sha256)) {
          entries.set(file, { size: entry.size!, mtimeMs: entry.mtimeMs!, sha256: entry.sha256 });
        }
      }
    }
    return new ScanIndex(file, entries);
  }

  get size(): number {
    return this.entries.size;
  }

  /** The sha256 of the file's bytes, if it was read before with this size and mtime. */
  lookup(file: string, size: number, mtimeMs: number): string | undefined {
    const entry = this.entries.get(path.resolve(file));
    return entry && entry.size === size && entry.mtimeMs === mtimeMs ? entry.sha256 : undefined;
  }

  record(file: string, size: number, mtimeMs: number, sha256: string): void {
    this.entries.set(path.resolve(file), { size, mtimeMs, sha256 });
    this.dirty = true;
  }

  forget(file: string): void {
    this.dirty = this.entries.delete(path.resolve(file)) || this.dirty;
  }

  async save(): Promise<void> {
    if (!this.dirty) return;
    await fs.mkdir(path.dirname(this.file), { recursive: true });
    await writeJsonAtomic(this.file, { name: INDEX_NAME, formatVersion: INDEX_FORMAT, files: Object.fromEntries(this.entries) });
    this.dirty = false;
  }

  async clear(): Promise<void> {
    this.entries.clear();
    this.dirty = false;
    await fs.rm(this.file, { force: true });
  }
}
