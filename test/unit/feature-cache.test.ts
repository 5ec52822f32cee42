// The scan's feature cache: what a user would notice is a rescan that embeds nothing after a
// restart, a disk that does not fill up, a damaged entry recomputed instead of served, and a
// scan that does not leave a file per image behind.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { FeatureCache } from '../../kernel/state/feature-cache';
import { tempDir } from '../helpers/engine';

interface Record {
  features: number[];
}
const check = (value: unknown) => {
  if (!Array.isArray((value as Record).features)) throw new Error('not a record');
};
const hash = (n: number) => n.toString(16).padStart(64, '0');
const record = (n: number): Record => ({ features: Array.from({ length: 100 }, () => 1000 + n) }); // every entry the same size (n < 9000)
const open = (dir: string, maxBytes = 1e9) => FeatureCache.open<Record>(dir, { maxBytes, check });
/** The cache's files under a backbone's folder. */
const filesOf = async (dir: string, backbone = 'net') => (await fs.readdir(path.join(dir, backbone))).map((name) => path.join(dir, backbone, name));
const folderBytes = async (dir: string) => (await Promise.all((await filesOf(dir)).map(async (f) => (await fs.stat(f)).size))).reduce((a, b) => a + b, 0);
/** What one entry counts for in the stats (every record is the same size); leaves `dir` empty. */
async function entryBytesIn(dir: string): Promise<number> {
  const probe = await open(dir);
  await probe.put('net', hash(0), record(0));
  const bytes = probe.stats.bytes;
  await probe.clear();
  return bytes;
}

describe('FeatureCache', () => {
  it('keeps entries across a restart', async () => {
    const dir = await tempDir('tagsmith-cache-');
    const first = await open(dir);
    await first.put('net', hash(1), record(1));
    first.close();
    const second = await open(dir);
    assert.deepEqual(await second.get('net', hash(1)), record(1));
    assert.equal(second.stats.entries, 1);
    assert.equal(await second.get('other-net', hash(1)), undefined, 'entries are per backbone');
  });

  it('writes the entries of a scan together, not a file per image', async () => {
    const dir = await tempDir('tagsmith-cache-');
    const cache = await open(dir);
    for (let n = 1; n <= 300; n++) await cache.put('net', hash(n), record(n));
    cache.flush();
    assert.equal((await filesOf(dir)).length, 1);
    const again = await open(dir);
    assert.equal(again.stats.entries, 300);
    assert.deepEqual(await again.get('net', hash(150)), record(150));
  });

  it('drops a torn, truncated or altered entry instead of serving it', async () => {
    const dir = await tempDir('tagsmith-cache-');
    const cache = await open(dir);
    for (const n of [1, 2, 3, 4]) await cache.put('net', hash(n), record(n));
    cache.close();
    const [segment] = await filesOf(dir);
    const whole = await fs.readFile(segment);
    const damaged = Buffer.from(whole);
    const second = whole.indexOf(Buffer.from(JSON.stringify(record(2))));
    damaged[second + 20] ^= 0x01; // a flipped bit in entry 2
    await fs.writeFile(segment, damaged.subarray(0, whole.length - 7)); // and entry 4 torn off the end
    const reopened = await open(dir);
    assert.equal(reopened.stats.entries, 3, 'the torn entry is not listed');
    assert.equal(await reopened.get('net', hash(2)), undefined);
    assert.equal(await reopened.get('net', hash(4)), undefined);
    assert.equal(reopened.stats.entries, 2, 'the altered entry is dropped');
    assert.deepEqual(await reopened.get('net', hash(1)), record(1));
    assert.deepEqual(await reopened.get('net', hash(3)), record(3));

    await fs.writeFile(segment, Buffer.alloc(0)); // renamed but never written (no fsync, a power cut)
    const empty = await open(dir);
    assert.equal(empty.stats.entries, 0);
    assert.deepEqual(await filesOf(dir), [], 'the unreadable segment is removed');
  });

  it('stays under its size limit by removing the least recently used entries', async () => {
    const dir = await tempDir('tagsmith-cache-');
    const entryBytes = await entryBytesIn(dir);

    const cache = await open(dir, entryBytes * 5.5);
    for (const n of [1, 2, 3, 4, 5]) await cache.put('net', hash(n), record(n));
    assert.ok(await cache.get('net', hash(1)), 'entry 1 used again: now the most recent');
    await cache.put('net', hash(6), record(6));
    assert.ok(cache.stats.bytes <= entryBytes * 5.5);
    assert.equal(await cache.get('net', hash(2)), undefined, 'the least recently used went first');
    assert.ok(await cache.get('net', hash(1)));
    assert.ok(await cache.get('net', hash(6)));
  });

  it('keeps the files on disk within the limit as entries are evicted from them', async () => {
    const dir = await tempDir('tagsmith-cache-');
    const entryBytes = await entryBytesIn(dir);

    const limit = entryBytes * 40;
    const cache = await open(dir, limit);
    for (let round = 0; round < 5; round++) {
      for (let n = round * 30; n < round * 30 + 30; n++) await cache.put('net', hash(n), record(n));
      cache.flush(); // one segment a round, the older ones losing their entries to eviction
      assert.ok((await folderBytes(dir)) <= limit, `round ${round}: ${await folderBytes(dir)} bytes on disk, limit ${limit}`);
    }
    assert.deepEqual(await cache.get('net', hash(149)), record(149), 'the newest stay');
    assert.equal(await cache.get('net', hash(0)), undefined, 'the oldest went');
    const reopened = await open(dir, limit);
    assert.equal(reopened.stats.entries, cache.stats.entries, 'the same entries after a restart');
  });

  it('gives back the space of evicted entries in a file whose other entries are still used', async () => {
    const dir = await tempDir('tagsmith-cache-');
    const entryBytes = await entryBytesIn(dir);

    const cache = await open(dir, entryBytes * 45);
    const putAll = async (from: number, count: number) => {
      for (let n = from; n < from + count; n++) await cache.put('net', hash(n), record(n));
      cache.flush();
    };
    await putAll(0, 30); // an old scan
    await putAll(100, 10); // a newer one
    for (let n = 0; n < 10; n++) assert.ok(await cache.get('net', hash(n)), 'a third of the old scan used again');
    await putAll(200, 10); // over the limit: the old scan's unused entries go first
    for (const n of [0, 9, 100, 109, 200, 209]) assert.deepEqual(await cache.get('net', hash(n)), record(n), `entry ${n} is kept`);
    assert.equal(await cache.get('net', hash(10)), undefined, 'the least recently used went');
    assert.ok((await folderBytes(dir)) <= entryBytes * 45);
  });

  it('clears everything on request', async () => {
    const dir = await tempDir('tagsmith-cache-');
    const cache = await open(dir);
    for (const n of [1, 2, 3]) await cache.put('net', hash(n), record(n));
    const cleared = await cache.clear();
    assert.equal(cleared.entries, 3);
    assert.equal(cache.stats.entries, 0);
    assert.equal(await cache.get('net', hash(1)), undefined);
    assert.equal((await open(dir)).stats.entries, 0);
    await cache.put('net', hash(1), record(1));
    assert.deepEqual(await cache.get('net', hash(1)), record(1), 'a cleared cache fills again');
  });

  it('keeps writing after another process cleared the cache under it', async () => {
    const dir = await tempDir('tagsmith-cache-');
    const server = await open(dir);
    await server.put('net', hash(1), record(1));
    server.flush();
    await (await open(dir)).clear(); // a `tagsmith cache clear` beside the server: the backbone's folder goes too
    assert.equal(await server.get('net', hash(1)), undefined, 'cleared for the server too');
    await server.put('net', hash(2), record(2));
    assert.deepEqual(await server.get('net', hash(2)), record(2));
    server.flush();
    assert.deepEqual(await (await open(dir)).get('net', hash(2)), record(2), 'the entry is on disk');
  });

  it('counts one copy of entries two processes both wrote, and removes the other file', async () => {
    const dir = await tempDir('tagsmith-cache-');
    const server = await open(dir);
    const cli = await open(dir);
    for (let n = 0; n < 20; n++) await server.put('net', hash(n), record(n));
    for (let n = 0; n < 20; n++) await cli.put('net', hash(n), record(n)); // the same images, embedded by both
    server.close();
    cli.close();
    const reopened = await open(dir);
    assert.equal(reopened.stats.entries, 20);
    assert.equal((await filesOf(dir)).length, 1, 'the duplicate file is gone');
    assert.ok(reopened.stats.bytes <= (await folderBytes(dir)) + 1, 'only what is on disk is counted');
    assert.deepEqual(await reopened.get('net', hash(19)), record(19));
  });

  it('never serves a damaged entry, even after its file was compacted', async () => {
    const dir = await tempDir('tagsmith-cache-');
    const writer = await open(dir);
    for (let n = 0; n < 30; n++) await writer.put('net', hash(n), record(n));
    writer.close();
    const [segment] = await filesOf(dir);
    const bytes = await fs.readFile(segment);
    const at = bytes.indexOf(Buffer.from(JSON.stringify(record(25))));
    bytes[at + 15] ^= 0x01; // one digit of entry 25 becomes another: still a valid record
    await fs.writeFile(segment, bytes);
    const probe = await open(dir);
    const entryBytes = probe.stats.bytes / 30;
    const cache = await open(dir, entryBytes * 32);
    for (let n = 100; n < 120; n++) await cache.put('net', hash(n), record(n)); // evicts the oldest: the file is compacted
    assert.ok(!(await filesOf(dir)).includes(segment), 'the old file was compacted');
    assert.equal(await cache.get('net', hash(25)), undefined);
  });

  it('keeps the files used since the last start over those written before, across a restart', async () => {
    const dir = await tempDir('tagsmith-cache-');
    const pause = () => new Promise((resolve) => setTimeout(resolve, 30));
    const first = await open(dir);
    for (let n = 0; n < 20; n++) await first.put('net', hash(n), record(n));
    first.flush();
    await pause();
    for (let n = 20; n < 40; n++) await first.put('net', hash(n), record(n));
    first.close();
    const entryBytes = first.stats.bytes / 40;
    await pause();
    const second = await open(dir);
    for (let n = 0; n < 20; n++) assert.ok(await second.get('net', hash(n)), 'the older file used again');
    second.close();
    await pause();
    const third = await open(dir, entryBytes * 45);
    for (let n = 100; n < 120; n++) await third.put('net', hash(n), record(n));
    for (const n of [0, 19, 100, 119]) assert.deepEqual(await third.get('net', hash(n)), record(n), `entry ${n} is kept`);
    assert.equal(await third.get('net', hash(30)), undefined, 'the entries not used since went first');
  });

  it("sees what another process put once it is written, and removes a crash's temporary files at open", async () => {
    const dir = await tempDir('tagsmith-cache-');
    const server = await open(dir);
    assert.equal(await server.get('net', hash(7)), undefined);
    const cli = await open(dir);
    await cli.put('net', hash(7), record(7));
    cli.close(); // a CLI run ending (or a second passing)
    assert.deepEqual(await server.get('net', hash(7)), record(7));
    const leftover = path.join(dir, 'net', 'lk2x9a0pq-0badc0de-000001.pack.tmp-123');
    const writing = path.join(dir, 'net', 'lk2x9a0pq-0badc0de-000002.pack.tmp-456');
    await fs.writeFile(leftover, 'half');
    await fs.writeFile(writing, 'half');
    const anHourAgo = new Date(Date.now() - 3600_000);
    await fs.utimes(leftover, anHourAgo, anHourAgo);
    await open(dir);
    await assert.rejects(fs.access(leftover));
    await fs.access(writing); // another process may be writing it right now
  });

  it('moves the entries of the one-file-per-entry layout into its files, still served', async () => {
    const dir = await tempDir('tagsmith-cache-');
    const payload = Buffer.from(JSON.stringify(record(5)));
    const header = Buffer.alloc(12);
    header.write('TSF1', 0, 'ascii');
    header.writeUInt32LE(payload.length, 4);
    header.writeUInt32LE(zlib.crc32(payload), 8);
    await fs.mkdir(path.join(dir, 'net', '00'), { recursive: true });
    await fs.writeFile(path.join(dir, 'net', '00', `${hash(5)}.bin`), Buffer.concat([header, payload]));
    await fs.writeFile(path.join(dir, 'net', '00', `${hash(6)}.bin`), Buffer.concat([header, payload]).subarray(0, 30)); // torn
    const cache = await open(dir);
    assert.deepEqual(await cache.get('net', hash(5)), record(5));
    assert.equal(await cache.get('net', hash(6)), undefined);
    assert.equal((await filesOf(dir)).filter((f) => f.endsWith('.pack')).length, 1);
    await assert.rejects(fs.access(path.join(dir, 'net', '00')), 'the old folder is gone');
  });
});
