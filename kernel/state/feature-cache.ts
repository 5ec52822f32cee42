// Embeddings of scanned images, by backbone and sha256 of the image bytes: a cache, so it can
// always be rebuilt, is never archived, and is bounded (least recently used entries go first).
//
// New entries wait in memory and are written together as one segment file (cache-segment.ts)
// a second after the first of them, or once 8 MB wait, or when the cache is flushed or closed
// or the process exits: a scan of new images writes one file per second instead of one per
// image. A segment is written whole and renamed into place, without fsync; each entry carries
// its CRC-32, so a damaged one is dropped and recomputed, never served. Reads and writes are
// synchronous: a few kilobytes in a local folder, where each asynchronous call's hand-off to
// libuv's threads costs several times the call itself.
//
// Other processes (a CLI run beside the server, a scan worker) share the folder: each writes
// segments of its own, and a lookup that misses lists the folder again if it changed, so what
// another process flushed is found. Eviction drops entries from the index; a segment goes when
// none of its entries is left, or is compacted (its live entries written again, the file
// removed) once less than half of it is live. Recency is exact within a process; across a
// restart it is kept per segment (a use refreshes the segment's mtime, at most once a second).
//
//   <dir>/<backbone>/<time>-<instance tag>-<counter>.pack
import crypto from 'node:crypto';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { TagsmithError } from '../errors';
import { ROW_OVERHEAD, encodeSegment, legacyEntryPayload, readPayload, readSegmentRows, type SegmentRow } from './cache-segment';

const HASH = /^[0-9a-f]{64}$/;
const BACKBONE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const SEGMENT_NAME = /^[0-9a-z]{9}-[0-9a-f]{8}-[0-9a-z]{6}\.pack$/;
const LEGACY_SHARD = /^[0-9a-f]{2}$/;

/** New entries written together once this many bytes of them wait. */
const SEGMENT_BYTES = 8 * 2 ** 20;
/** ...or this long after the first of them was put. */
const FLUSH_AFTER_MS = 1000;
/** A temporary file older than this belongs to no live writer (a crash's leftover) and is removed at open. */
const STALE_TEMP_MS = 60_000;
/** A segment with less than this share of its payload bytes live is compacted. */
const COMPACT_BELOW = 0.5;
/** Index entries dropped before a sweep gives the event loop a turn. */
const EVICTIONS_PER_TURN = 256;

export interface FeatureCacheOptions {
  /** Total size of the entries above which the least recently used are removed. */
  maxBytes: number;
  /** Checks a decoded record (its schema, its feature length); throws if it is not usable. */
  check: (value: unknown) => void;
}

interface Segment {
  readonly file: string;
  readonly backbone: string;
  readonly size: number;
  /** Keys whose entry lives here. */
  readonly keys: Set<string>;
  liveBytes: number;
  readonly payloadBytes: number;
  /** When this process last carried a use of it to its mtime. */
  touchedAt: number;
}

/** One entry: on disk in a segment, or waiting to be written. */
interface Entry {
  backbone: string;
  hash: string;
  at: { segment: Segment; row: SegmentRow } | { pending: Buffer };
  /** The use counter at its last use (a sweep spares what was used after it began). */
  lastUsed: number;
}

/** Caches with entries waiting, flushed when the process exits. */
const openCaches = new Set<FeatureCache<unknown>>();
let flushesOnExit = false;

export class FeatureCache<T> {
  /** backbone/hash → entry, least recently used first. */
  private readonly entries = new Map<string, Entry>();
  private readonly segments = new Map<string, Segment>();
  /** Entries waiting to be written, per backbone. */
  private readonly pending = new Map<string, Set<string>>();
  private pendingBytes = 0;
  private totalBytes = 0;
  private uses = 0;
  private writes = 0;
  private flushTimer: NodeJS.Timeout | undefined;
  /** Each backbone folder's mtime when it was last listed: a lookup that misses lists it again only if it changed. */
  private readonly listed = new Map<string, number>();
  /** Tells this instance's files from those of another process or instance. */
  private readonly tag = crypto.randomBytes(4).toString('hex');
  private evicting: Promise<void> | undefined;

  private constructor(
    readonly dir: string,
    private readonly options: FeatureCacheOptions,
  ) {}

  /** Opens (creating) the cache folder and learns what it holds; a segment's mtime (its last write or use) orders its entries' recency. */
  static async open<T>(dir: string, options: FeatureCacheOptions): Promise<FeatureCache<T>> {
    await fs.mkdir(dir, { recursive: true });
    const cache = new FeatureCache<T>(dir, options);
    for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
      if (entry.isDirectory() && BACKBONE.test(entry.name)) cache.openBackbone(entry.name);
      else await fs.rm(path.join(dir, entry.name), { recursive: true, force: true }); // a stranger
    }
    await cache.evictIfNeeded();
    return cache;
  }

  get stats(): { entries: number; bytes: number; maxBytes: number } {
    return { entries: this.entries.size, bytes: this.totalBytes, maxBytes: this.options.maxBytes };
  }

  /** The record, or undefined if it is not cached (or was damaged: then it is dropped). */
  async get(backbone: string, hash: string): Promise<T | undefined> {
    const key = this.keyOf(backbone, hash);
    // Three looks at most: another process may have written it since this one last looked, or
    // moved it (its eviction compacted the segment this one knew it in: forgotten, then listed again).
    for (let attempt = 0; attempt < 3; attempt++) {
      const entry = this.entries.get(key);
      if (!entry) {
        if (this.listAgainIfChanged(backbone)) continue;
        return undefined;
      }
      const payload = 'pending' in entry.at ? entry.at.pending : this.readFromSegment(entry.at.segment, entry.at.row);
      const record = payload && this.decode(payload);
      if (record !== undefined) {
        this.use(key, entry);
        if (!('pending' in entry.at)) this.touch(entry.at.segment);
        return record as T;
      }
      if (this.entries.get(key) !== entry) continue; // its segment was gone
      this.drop(key, entry); // damaged, or of another format
      return undefined;
    }
    return undefined;
  }

  async put(backbone: string, hash: string, record: T): Promise<void> {
    const key = this.keyOf(backbone, hash);
    const known = this.entries.get(key);
    if (known) return this.use(key, known);
    const payload = Buffer.from(JSON.stringify(record), 'utf8');
    this.entries.set(key, { backbone, hash, at: { pending: payload }, lastUsed: ++this.uses });
    this.addPending(key, payload);
    await this.evictIfNeeded();
  }

  /** Writes the entries waiting in memory (another process finds them from then on). */
  flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    for (const [backbone, keys] of this.pending) {
      const waiting = [...keys].flatMap((key) => {
        const entry = this.entries.get(key);
        return entry && 'pending' in entry.at ? [{ key, entry, hash: entry.hash, payload: entry.at.pending }] : [];
      });
      this.pending.delete(backbone);
      for (const { payload } of waiting) this.pendingBytes -= payload.length;
      for (const { payload } of waiting) this.totalBytes -= payload.length + ROW_OVERHEAD;
      if (waiting.length === 0) continue;
      const { bytes, rows } = encodeSegment(waiting);
      const file = path.join(
        this.dir,
        backbone,
        `${Date.now().toString(36).padStart(9, '0')}-${this.tag}-${(++this.writes).toString(36).padStart(6, '0')}.pack`,
      );
      try {
        writeWhole(file, bytes);
      } catch {
        // A full or read-only disk: the entries are dropped (a cache), the scan goes on.
        for (const { key } of waiting) this.entries.delete(key);
        continue;
      }
      const segment: Segment = {
        file,
        backbone,
        size: bytes.length,
        keys: new Set(),
        liveBytes: 0,
        payloadBytes: bytes.length - rows[0].offset,
        touchedAt: Date.now(),
      };
      this.segments.set(file, segment);
      this.totalBytes += segment.size;
      waiting.forEach(({ key, entry }, i) => {
        entry.at = { segment, row: rows[i] };
        segment.keys.add(key);
        segment.liveBytes += rows[i].length;
      });
    }
    openCaches.delete(this as FeatureCache<unknown>);
  }

  /** Flushes; the cache is not used after. */
  close(): void {
    this.flush();
  }

  /** Removes every entry; returns how many and how many bytes. */
  async clear(): Promise<{ entries: number; bytes: number }> {
    const before = { entries: this.entries.size, bytes: this.totalBytes };
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    for (const name of await fs.readdir(this.dir)) await fs.rm(path.join(this.dir, name), { recursive: true, force: true });
    this.entries.clear();
    this.segments.clear();
    this.pending.clear();
    this.listed.clear();
    this.pendingBytes = 0;
    this.totalBytes = 0;
    openCaches.delete(this as FeatureCache<unknown>);
    return before;
  }

  // ── internals ──────────────────────────────────────────────────────────────────────

  private keyOf(backbone: string, hash: string): string {
    if (!BACKBONE.test(backbone) || !HASH.test(hash)) throw new TagsmithError('internal', `Not a cache key: ${JSON.stringify(`${backbone}/${hash}`)}.`);
    return `${backbone}/${hash}`;
  }

  private decode(payload: Buffer): unknown {
    try {
      const record: unknown = JSON.parse(payload.toString('utf8'));
      this.options.check(record);
      return record;
    } catch {
      return undefined; // a record of an older format, or for another feature length
    }
  }

  private use(key: string, entry: Entry): void {
    entry.lastUsed = ++this.uses;
    this.entries.delete(key);
    this.entries.set(key, entry);
  }

  private addPending(key: string, payload: Buffer): void {
    const backbone = key.slice(0, key.indexOf('/'));
    let keys = this.pending.get(backbone);
    if (!keys) this.pending.set(backbone, (keys = new Set()));
    keys.add(key);
    this.pendingBytes += payload.length;
    this.totalBytes += payload.length + ROW_OVERHEAD;
    openCaches.add(this as FeatureCache<unknown>);
    watchExit();
    if (this.pendingBytes >= SEGMENT_BYTES) this.flush();
    else this.flushTimer ??= setTimeout(() => this.flush(), FLUSH_AFTER_MS).unref();
  }

  /** One entry's payload; undefined if it is damaged, or its segment is gone (another process evicted it: its entries are forgotten). */
  private readFromSegment(segment: Segment, row: SegmentRow): Buffer | undefined {
    let fd: number;
    try {
      fd = fsSync.openSync(segment.file, 'r');
    } catch {
      this.forgetSegment(segment);
      return undefined;
    }
    try {
      return readPayload(fd, row);
    } catch {
      return undefined;
    } finally {
      fsSync.closeSync(fd);
    }
  }

  /** Learns a backbone folder's segments at open, moving entries of the one-file layout into segments. */
  private openBackbone(backbone: string): void {
    const folder = path.join(this.dir, backbone);
    const now = Date.now();
    // The folder's mtime before listing it: a segment renamed in meanwhile makes the next miss list again.
    this.listed.set(backbone, fsSync.statSync(folder, { throwIfNoEntry: false })?.mtimeMs ?? 0);
    const segments: string[] = [];
    const legacyShards: string[] = [];
    for (const entry of readdirIfPresent(folder)) {
      const file = path.join(folder, entry.name);
      if (entry.isFile() && SEGMENT_NAME.test(entry.name)) segments.push(file);
      else if (entry.isDirectory() && LEGACY_SHARD.test(entry.name)) legacyShards.push(file);
      else if (entry.isFile() && entry.name.includes('.tmp-')) {
        // Another process may be writing it right now; an old one is a crash's leftover.
        const stat = fsSync.statSync(file, { throwIfNoEntry: false });
        if (stat && now - stat.mtimeMs > STALE_TEMP_MS) fsSync.rmSync(file, { force: true });
      } else fsSync.rmSync(file, { recursive: true, force: true });
    }
    this.loadSegments(backbone, segments);
    if (legacyShards.length > 0) this.moveLegacyEntries(backbone, legacyShards);
    this.flush();
  }

  /**
   * Loads segments least recently used first (a segment's mtime is its last write or use:
   * `touch`), so recency survives a restart segment by segment; then removes those left with no
   * entry of their own (every key served from another: two processes embedded the same images)
   * and compacts those mostly dead.
   */
  private loadSegments(backbone: string, files: string[]): void {
    const byUse = files
      .map((file) => ({ file, mtimeMs: fsSync.statSync(file, { throwIfNoEntry: false })?.mtimeMs }))
      .filter((f) => f.mtimeMs !== undefined)
      .sort((a, b) => a.mtimeMs! - b.mtimeMs! || (a.file < b.file ? -1 : 1));
    const loaded = byUse.flatMap(({ file }) => this.loadSegment(backbone, file) ?? []);
    for (const segment of loaded) {
      if (this.segments.get(segment.file) !== segment) continue;
      if (segment.keys.size === 0) this.removeSegment(segment);
      else if (segment.liveBytes < segment.payloadBytes * COMPACT_BELOW) this.compact(segment);
    }
  }

  /** Carries a use over to the next start through the segment's mtime, at most once a second a segment. */
  private touch(segment: Segment): void {
    const now = Date.now();
    if (now - segment.touchedAt < FLUSH_AFTER_MS) return;
    segment.touchedAt = now;
    try {
      const time = new Date(now);
      fsSync.utimesSync(segment.file, time, time);
    } catch {
      // removed meanwhile (another process's eviction): nothing to carry over
    }
  }

  /** Reads a segment's table into the index; a segment whose table is damaged is removed. */
  private loadSegment(backbone: string, file: string): Segment | undefined {
    let fd: number;
    try {
      fd = fsSync.openSync(file, 'r');
    } catch {
      return undefined; // removed meanwhile
    }
    let rows: SegmentRow[] | undefined;
    let size = 0;
    try {
      size = fsSync.fstatSync(fd).size;
      rows = readSegmentRows(fd, size);
    } catch {
      rows = undefined;
    } finally {
      fsSync.closeSync(fd);
    }
    if (!rows) {
      fsSync.rmSync(file, { force: true });
      return undefined;
    }
    const segment: Segment = { file, backbone, size, keys: new Set(), liveBytes: 0, payloadBytes: Math.max(1, size - (rows[0]?.offset ?? size)), touchedAt: 0 };
    this.segments.set(file, segment);
    this.totalBytes += size;
    for (const row of rows) {
      const key = `${backbone}/${row.hash}`;
      if (this.entries.has(key)) continue; // written by two processes: the first one found serves
      this.entries.set(key, { backbone, hash: row.hash, at: { segment, row }, lastUsed: ++this.uses });
      segment.keys.add(key);
      segment.liveBytes += row.length;
    }
    return segment;
  }

  /** Lists a backbone folder again if it changed since it was last listed: new segments are loaded, vanished ones forgotten. */
  private listAgainIfChanged(backbone: string): boolean {
    const folder = path.join(this.dir, backbone);
    const mtime = fsSync.statSync(folder, { throwIfNoEntry: false })?.mtimeMs ?? 0;
    if (this.listed.get(backbone) === mtime) return false;
    this.listed.set(backbone, mtime);
    let names: string[];
    try {
      names = fsSync.readdirSync(folder).filter((name) => SEGMENT_NAME.test(name));
    } catch {
      names = [];
    }
    const present = new Set(names.map((name) => path.join(folder, name)));
    for (const segment of [...this.segments.values()]) if (segment.backbone === backbone && !present.has(segment.file)) this.forgetSegment(segment);
    this.loadSegments(
      backbone,
      [...present].filter((file) => !this.segments.has(file)),
    );
    return true;
  }

  /** A segment another process removed: its entries are no longer cached. */
  private forgetSegment(segment: Segment): void {
    if (this.segments.get(segment.file) !== segment) return;
    this.segments.delete(segment.file);
    this.totalBytes -= segment.size;
    for (const key of segment.keys) this.entries.delete(key);
  }

  /** Removes a dropped entry; its segment goes with its last entry, or is compacted once mostly dead. */
  private drop(key: string, entry: Entry): void {
    this.entries.delete(key);
    if ('pending' in entry.at) {
      this.pendingBytes -= entry.at.pending.length;
      this.totalBytes -= entry.at.pending.length + ROW_OVERHEAD;
      this.pending.get(entry.backbone)?.delete(key);
      return;
    }
    const { segment, row } = entry.at;
    segment.keys.delete(key);
    segment.liveBytes -= row.length;
    if (segment.keys.size === 0) this.removeSegment(segment);
    else if (segment.liveBytes < segment.payloadBytes * COMPACT_BELOW) this.compact(segment);
  }

  private removeSegment(segment: Segment): void {
    this.segments.delete(segment.file);
    this.totalBytes -= segment.size;
    try {
      fsSync.rmSync(segment.file, { force: true });
    } catch {
      // in use by another process on a platform that refuses (Windows): it is listed again later
    }
  }

  /** Moves a mostly dead segment's live entries back to the write buffer and removes the file. */
  private compact(segment: Segment): void {
    let bytes: Buffer | undefined;
    try {
      bytes = fsSync.readFileSync(segment.file);
    } catch {
      bytes = undefined;
    }
    const keys = [...segment.keys];
    this.removeSegment(segment);
    for (const key of keys) {
      const entry = this.entries.get(key);
      if (!entry || 'pending' in entry.at) continue;
      const { row } = entry.at;
      const payload = bytes && bytes.length >= row.offset + row.length ? Buffer.from(bytes.subarray(row.offset, row.offset + row.length)) : undefined;
      // Checked before it is written again with a new CRC: damage is dropped here, not made valid.
      if (!payload || zlib.crc32(payload) !== row.crc) {
        this.entries.delete(key);
        continue;
      }
      entry.at = { pending: payload }; // in place: its place in the recency order stays
      this.addPending(key, payload);
    }
  }

  /** Moves one-file entries (the layout before segments) into segments, least recently used first, and removes their folders. */
  private moveLegacyEntries(backbone: string, shards: string[]): void {
    const found = shards.flatMap((shard) =>
      readdirIfPresent(shard)
        .filter((entry) => entry.name.endsWith('.bin') && HASH.test(entry.name.slice(0, -4)))
        .map((entry) => {
          const file = path.join(shard, entry.name);
          return { file, hash: entry.name.slice(0, -4), mtimeMs: fsSync.statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? 0 };
        }),
    );
    for (const { file, hash } of found.sort((a, b) => a.mtimeMs - b.mtimeMs)) {
      const payload = legacyEntryPayload(readIfPresent(file) ?? Buffer.alloc(0));
      const key = `${backbone}/${hash}`;
      if (!payload || this.entries.has(key) || this.decode(payload) === undefined) continue;
      this.entries.set(key, { backbone, hash, at: { pending: payload }, lastUsed: ++this.uses });
      this.addPending(key, payload);
    }
    this.flush();
    for (const shard of shards) fsSync.rmSync(shard, { recursive: true, force: true });
  }

  /** Removes the least recently used entries down to 90% of the limit; one sweep at a time. */
  private async evictIfNeeded(): Promise<void> {
    if (this.totalBytes <= this.options.maxBytes) return;
    this.evicting ??= (async () => {
      const began = this.uses;
      let dropped = 0;
      for (const [key, entry] of [...this.entries]) {
        if (this.totalBytes <= this.options.maxBytes * 0.9) break;
        if (this.entries.get(key) !== entry || entry.lastUsed > began) continue; // used (or removed) since the sweep began
        this.drop(key, entry);
        // A sweep of a full 2 GB cache drops some 20,000 entries: let requests in between.
        if (++dropped % EVICTIONS_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
      }
    })().finally(() => {
      this.evicting = undefined;
    });
    await this.evicting;
  }
}

/** Writes `file` whole: under a temporary name first, so no reader sees it half written; its folder is made if another process removed it. */
function writeWhole(file: string, bytes: Buffer): void {
  const temp = `${file}.tmp-${process.pid}`;
  try {
    fsSync.writeFileSync(temp, bytes);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    fsSync.mkdirSync(path.dirname(file), { recursive: true });
    fsSync.writeFileSync(temp, bytes);
  }
  try {
    fsSync.renameSync(temp, file);
  } catch (error) {
    fsSync.rmSync(temp, { force: true });
    throw error;
  }
}

/** A folder's entries; none if another process removed it meanwhile (its open, migrating the same folders, or its clear). */
function readdirIfPresent(folder: string): fsSync.Dirent[] {
  try {
    return fsSync.readdirSync(folder, { withFileTypes: true });
  } catch {
    return [];
  }
}

/** The file's bytes, or undefined if there is none (or it cannot be read). */
function readIfPresent(file: string): Buffer | undefined {
  try {
    return fsSync.readFileSync(file);
  } catch {
    return undefined;
  }
}

/** Entries still waiting when the process exits are written then (synchronously, as exit handlers must). */
function watchExit(): void {
  if (flushesOnExit) return;
  flushesOnExit = true;
  process.on('exit', () => {
    for (const cache of openCaches) cache.flush();
  });
}
