// Embeddings of scanned images, by backbone and sha256 of the image bytes: a cache, so it can
// always be rebuilt, is never archived, and is bounded (least recently used entries go first).
// Entries are written without fsync (a cache need not survive a power cut) but carry their
// length and a CRC-32, so a torn or damaged entry is dropped and recomputed, never served.
// An entry is read and written with synchronous calls: a few kilobytes in a local folder, where
// each asynchronous call's hand-off to libuv's threads costs several times the call itself
// (on the 2-core VM about 45 µs of CPU against 9 µs for a missing entry, 125 against 25 µs for
// a write), and a scan of new images makes one lookup and one write per image.
//
//   <dir>/<backbone>/<first two hex digits>/<sha256>.bin
//   entry = "TSF1" | u32 payload length | u32 crc32(payload) | payload (UTF-8 JSON record)
import crypto from 'node:crypto';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { TagsmithError } from '../errors';

const MAGIC = Buffer.from('TSF1', 'ascii');
const HEADER_BYTES = 12;
const HASH = /^[0-9a-f]{64}$/;
const BACKBONE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export interface FeatureCacheOptions {
  /** Total size of the entries above which the least recently used are removed. */
  maxBytes: number;
  /** Checks a decoded record (its schema, its feature length); throws if it is not usable. */
  check: (value: unknown) => void;
}

interface EntryInfo {
  bytes: number;
  /** A use counter, not a time: uses within one millisecond still have an order. */
  lastUsed: number;
}

export class FeatureCache<T> {
  /** backbone/hash → size and last use. Filled from the folder at open, kept up to date after. */
  private readonly entries = new Map<string, EntryInfo>();
  private totalBytes = 0;
  private uses = 0;
  private writes = 0;
  /** Tells this instance's temporary files from those of another with the same pid (another container sharing the folder). */
  private readonly tempTag = crypto.randomBytes(4).toString('hex');
  private evicting: Promise<void> | undefined;
  /** Shard folders this cache has made (or found) since it opened or was cleared. */
  private readonly shards = new Set<string>();

  private constructor(
    readonly dir: string,
    private readonly options: FeatureCacheOptions,
  ) {}

  /** Opens (creating) the cache folder and learns what it holds; last use is the file's mtime. */
  static async open<T>(dir: string, options: FeatureCacheOptions): Promise<FeatureCache<T>> {
    await fs.mkdir(dir, { recursive: true });
    const cache = new FeatureCache<T>(dir, options);
    const found: { key: string; bytes: number; mtimeMs: number }[] = [];
    for (const entry of await fs.readdir(dir, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const file = path.join(entry.parentPath, entry.name);
      const key = cache.keyOf(file);
      if (!key) {
        await fs.rm(file, { force: true }); // a temporary file a crash left, or a stranger
        continue;
      }
      const stat = await fs.stat(file).catch(() => undefined);
      if (stat) found.push({ key, bytes: stat.size, mtimeMs: stat.mtimeMs });
    }
    // Recency across restarts comes from the files' mtimes, which each use refreshes.
    for (const { key, bytes } of found.sort((a, b) => a.mtimeMs - b.mtimeMs)) cache.track(key, bytes);
    await cache.evictIfNeeded();
    return cache;
  }

  get stats(): { entries: number; bytes: number; maxBytes: number } {
    return { entries: this.entries.size, bytes: this.totalBytes, maxBytes: this.options.maxBytes };
  }

  /** The record, or undefined if it is not cached (or was damaged: then it is removed). */
  async get(backbone: string, hash: string): Promise<T | undefined> {
    const file = this.file(backbone, hash);
    const key = `${backbone}/${hash}`;
    // Read even when the index does not know the key: another process (a CLI run beside the
    // server) may have put it.
    const bytes = readIfPresent(file);
    if (!bytes) {
      if (this.entries.has(key)) this.remove(key, file); // evicted by another process
      return undefined;
    }
    const record = decode(bytes);
    if (record !== undefined) {
      try {
        this.options.check(record);
        this.track(key, bytes.length);
        this.touch(file);
        return record as T;
      } catch {
        // fall through: a record of an older format, or for another feature length
      }
    }
    this.remove(key, file);
    return undefined;
  }

  async put(backbone: string, hash: string, record: T): Promise<void> {
    const file = this.file(backbone, hash);
    const key = `${backbone}/${hash}`;
    if (this.entries.has(key)) {
      this.track(key, this.entries.get(key)!.bytes);
      return this.touch(file);
    }
    const entry = encode(record);
    // Written and renamed with nothing in between, so no two writes of this process share the
    // name; another process's carry another pid or tag.
    const temp = `${file}.tmp-${process.pid}-${this.tempTag}-${++this.writes}`;
    this.writeInShard(temp, entry);
    try {
      fsSync.renameSync(temp, file);
    } catch (error) {
      fsSync.rmSync(temp, { force: true });
      throw error;
    }
    this.track(key, entry.length);
    await this.evictIfNeeded();
  }

  /** Removes every entry; returns how many and how many bytes. */
  async clear(): Promise<{ entries: number; bytes: number }> {
    const before = { entries: this.entries.size, bytes: this.totalBytes };
    for (const name of await fs.readdir(this.dir)) await fs.rm(path.join(this.dir, name), { recursive: true, force: true });
    this.shards.clear();
    this.entries.clear();
    this.totalBytes = 0;
    return before;
  }

  /**
   * Writes `file`, making its shard folder the first time this cache writes there. A folder
   * another process removed (its `cache clear`) is made again. (Making it before every write
   * cost about half a millisecond of the scan's main thread per image.)
   */
  private writeInShard(file: string, bytes: Buffer): void {
    const shard = path.dirname(file);
    if (!this.shards.has(shard)) {
      fsSync.mkdirSync(shard, { recursive: true });
      this.shards.add(shard);
    }
    try {
      fsSync.writeFileSync(file, bytes);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      fsSync.mkdirSync(shard, { recursive: true });
      fsSync.writeFileSync(file, bytes);
    }
  }

  private file(backbone: string, hash: string): string {
    if (!BACKBONE.test(backbone) || !HASH.test(hash)) throw new TagsmithError('internal', `Not a cache key: ${JSON.stringify(`${backbone}/${hash}`)}.`);
    return path.join(this.dir, backbone, hash.slice(0, 2), `${hash}.bin`);
  }

  private keyOf(file: string): string | undefined {
    const parts = path.relative(this.dir, file).split(path.sep);
    if (parts.length !== 3) return undefined;
    const [backbone, shard, name] = parts;
    const hash = name.endsWith('.bin') ? name.slice(0, -4) : '';
    return BACKBONE.test(backbone) && HASH.test(hash) && shard === hash.slice(0, 2) ? `${backbone}/${hash}` : undefined;
  }

  /** Records an entry as present and used just now. */
  private track(key: string, bytes: number): void {
    this.totalBytes += bytes - (this.entries.get(key)?.bytes ?? 0);
    this.entries.delete(key);
    this.entries.set(key, { bytes, lastUsed: ++this.uses });
  }

  /** Carries a use over to the next start, through the file's mtime. */
  private touch(file: string): void {
    const now = new Date();
    try {
      fsSync.utimesSync(file, now, now);
    } catch {
      // removed meanwhile (another process's eviction): nothing to carry over
    }
  }

  private remove(key: string, file: string): void {
    const info = this.entries.get(key);
    if (info) this.totalBytes -= info.bytes;
    this.entries.delete(key);
    fsSync.rmSync(file, { force: true });
  }

  /** Removes the least recently used entries down to 90% of the limit; one sweep at a time. */
  private async evictIfNeeded(): Promise<void> {
    if (this.totalBytes <= this.options.maxBytes) return;
    this.evicting ??= (async () => {
      const oldestFirst = [...this.entries].sort(([, a], [, b]) => a.lastUsed - b.lastUsed);
      for (const [i, [key, info]] of oldestFirst.entries()) {
        if (this.totalBytes <= this.options.maxBytes * 0.9) break;
        if (this.entries.get(key) !== info) continue; // used (or removed) since the sweep began
        const [backbone, hash] = key.split('/');
        this.remove(key, this.file(backbone, hash));
        // A sweep of a full 2 GB cache removes some 20,000 entries: let requests in between.
        if (i % EVICTIONS_PER_TURN === EVICTIONS_PER_TURN - 1) await new Promise((resolve) => setImmediate(resolve));
      }
    })().finally(() => {
      this.evicting = undefined;
    });
    await this.evicting;
  }
}

/** Synchronous removals before the sweep gives the event loop a turn (about 5 ms of them). */
const EVICTIONS_PER_TURN = 256;

function encode(record: unknown): Buffer {
  const payload = Buffer.from(JSON.stringify(record), 'utf8');
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(payload.length, 4);
  header.writeUInt32LE(zlib.crc32(payload), 8);
  return Buffer.concat([header, payload]);
}

/** The entry's bytes, or undefined if there is none (or it cannot be read: a cache miss either way). */
function readIfPresent(file: string): Buffer | undefined {
  try {
    return fsSync.readFileSync(file);
  } catch {
    return undefined;
  }
}

/** The record of an intact entry; undefined for a torn, truncated or altered one. */
function decode(bytes: Buffer): unknown {
  if (bytes.length < HEADER_BYTES || !bytes.subarray(0, 4).equals(MAGIC)) return undefined;
  const length = bytes.readUInt32LE(4);
  if (bytes.length !== HEADER_BYTES + length) return undefined;
  const payload = bytes.subarray(HEADER_BYTES);
  if (zlib.crc32(payload) !== bytes.readUInt32LE(8)) return undefined;
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
}
