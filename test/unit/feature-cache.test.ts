// The scan's feature cache: what a user would notice is a rescan that embeds nothing after a
// restart, a disk that does not fill up, and a damaged entry recomputed instead of served.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { FeatureCache } from '../../kernel/state/feature-cache';
import { tempDir } from '../helpers/engine';

interface Record {
  features: number[];
}
const check = (value: unknown) => {
  if (!Array.isArray((value as Record).features)) throw new Error('not a record');
};
const hash = (n: number) => n.toString(16).padStart(64, '0');
const record = (n: number): Record => ({ features: Array.from({ length: 100 }, () => n) }); // every entry the same size
const open = (dir: string, maxBytes = 1e9) => FeatureCache.open<Record>(dir, { maxBytes, check });

describe('FeatureCache', () => {
  it('keeps entries across a restart', async () => {
    const dir = await tempDir('tagsmith-cache-');
    const first = await open(dir);
    await first.put('net', hash(1), record(1));
    const second = await open(dir);
    assert.deepEqual(await second.get('net', hash(1)), record(1));
    assert.equal(second.stats.entries, 1);
    assert.equal(await second.get('other-net', hash(1)), undefined, 'entries are per backbone');
  });

  it('drops a torn, truncated or altered entry instead of serving it', async () => {
    const dir = await tempDir('tagsmith-cache-');
    const cache = await open(dir);
    for (const n of [1, 2, 3, 4]) await cache.put('net', hash(n), record(n));
    const file = (n: number) => path.join(dir, 'net', hash(n).slice(0, 2), `${hash(n)}.bin`);
    const whole = await fs.readFile(file(1));
    await fs.writeFile(file(1), whole.subarray(0, whole.length - 7)); // torn
    await fs.writeFile(file(2), Buffer.alloc(0)); // renamed but never written (no fsync)
    const flipped = Buffer.from(whole);
    flipped[flipped.length - 20] ^= 0x01;
    await fs.writeFile(file(3), flipped); // a flipped bit
    for (const n of [1, 2, 3]) {
      assert.equal(await cache.get('net', hash(n)), undefined);
      await assert.rejects(fs.access(file(n)), 'the damaged entry is removed');
    }
    assert.deepEqual(await cache.get('net', hash(4)), record(4));
  });

  it('stays under its size limit by removing the least recently used entries', async () => {
    const dir = await tempDir('tagsmith-cache-');
    const probe = await open(dir);
    await probe.put('net', hash(0), record(0));
    const entryBytes = probe.stats.bytes;
    await probe.clear();

    const cache = await open(dir, entryBytes * 5.5);
    for (const n of [1, 2, 3, 4, 5]) await cache.put('net', hash(n), record(n));
    assert.ok(await cache.get('net', hash(1)), 'entry 1 used again: now the most recent');
    await cache.put('net', hash(6), record(6));
    assert.ok(cache.stats.bytes <= entryBytes * 5.5);
    assert.equal(await cache.get('net', hash(2)), undefined, 'the least recently used went first');
    assert.ok(await cache.get('net', hash(1)));
    assert.ok(await cache.get('net', hash(6)));
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
    await (await open(dir)).clear(); // a `tagsmith cache clear` beside the server: the shard folders go too
    await server.put('net', hash(2), record(2)); // same shard ("00") as hash(1)
    assert.deepEqual(await server.get('net', hash(2)), record(2));
    assert.deepEqual(await (await open(dir)).get('net', hash(2)), record(2), 'the entry is on disk');
  });

  it("sees what another process put, and removes a crash's temporary files at open", async () => {
    const dir = await tempDir('tagsmith-cache-');
    const server = await open(dir);
    const cli = await open(dir);
    await cli.put('net', hash(7), record(7));
    assert.deepEqual(await server.get('net', hash(7)), record(7));
    const leftover = path.join(dir, 'net', '00', `${hash(8)}.bin.tmp-123-abcd`);
    await fs.writeFile(leftover, 'half');
    await open(dir);
    await assert.rejects(fs.access(leftover));
  });
});
