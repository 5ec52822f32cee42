// Hostile archives for /set_state: each is refused, nothing outside the state folder is
// touched, and the previous state keeps serving.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { TagsmithError } from '../../kernel/errors';
import type { TagsmithEngine } from '../../kernel/engine/tagsmith-engine';
import { restoreStateArchive } from '../../kernel/state/state-archive';
import { blobImages, openTestEngine, stripedImages, tempDir, waitForTask } from '../helpers/engine';
import { tarEntry, tarOf } from '../helpers/tar-entries';

const MANIFEST = tarEntry({ path: 'manifest.json', body: JSON.stringify({ name: 'tagsmith-state', formatVersion: 1, createdAt: 'x' }) });

async function* manyEmptyEntries(count: number) {
  yield MANIFEST;
  for (let i = 0; i < count; i++) yield tarEntry({ path: `images/${i}` });
  yield Buffer.alloc(1024);
}

describe('restoring hostile archives', () => {
  let engine: TagsmithEngine;
  let stateDir: string;
  let good: Buffer;
  let probe: Buffer;
  let expected: unknown;
  let outside: string;
  before(async () => {
    ({ engine, stateDir } = await openTestEngine());
    for (const image of await stripedImages(4)) await engine.addSample('positive', 'stripes', image);
    for (const image of await blobImages(4)) await engine.addSample('negative', 'stripes', image);
    await waitForTask(engine, (await engine.train('stripes')).task_id);
    [probe] = await stripedImages(1, 80);
    expected = (await engine.predict(probe)).custom;
    const chunks: Buffer[] = [];
    for await (const c of await engine.getState()) chunks.push(c as Buffer);
    good = Buffer.concat(chunks);
    outside = await tempDir('tagsmith-outside-');
  });
  after(async () => {
    await engine.close();
    for (const dir of [stateDir, outside]) await fs.rm(dir, { recursive: true, force: true });
  });

  const refused = async (name: string, archive: Buffer | Readable, pattern?: RegExp) => {
    const stream = Buffer.isBuffer(archive) ? Readable.from([archive]) : archive;
    await assert.rejects(engine.setState(stream), (e: unknown) => {
      assert.ok(e instanceof TagsmithError && e.code === 'invalid_archive', `${name}: ${String(e)}`);
      if (pattern) assert.match(e.message, pattern, name);
      return true;
    });
    assert.deepEqual((await engine.predict(probe)).custom, expected, `${name}: the previous state still serves`);
    assert.deepEqual(await fs.readdir(outside), [], `${name}: nothing written outside`);
    const leftovers = (await fs.readdir(path.join(stateDir, 'tmp'))).filter((f) => f.startsWith('g-'));
    assert.deepEqual(leftovers, [], `${name}: no half-built state or spool left`);
  };

  it('refuses paths that climb out or are absolute', async () => {
    const escape = path.relative(path.join(stateDir, 'tmp', 'g-x'), path.join(outside, 'pwned'));
    await refused('../ entry', tarOf(MANIFEST, tarEntry({ path: `tags/${escape}`, body: 'x' })), /climbs out/);
    await refused('plain ../', tarOf(MANIFEST, tarEntry({ path: '../../../pwned', body: 'x' })), /climbs out/);
    await refused('absolute path', tarOf(MANIFEST, tarEntry({ path: path.join(outside, 'pwned'), body: 'x' })), /absolute/);
    await refused('foreign top-level name', tarOf(MANIFEST, tarEntry({ path: 'etc/passwd', body: 'x' })), /not part of a Tagsmith state/);
  });

  it('refuses links, devices and FIFOs, and a file written through a link', async () => {
    await refused('symlink', tarOf(MANIFEST, tarEntry({ path: 'images/link', type: 'symlink', linkpath: outside })), /SymbolicLink/);
    await refused('hardlink', tarOf(MANIFEST, tarEntry({ path: 'images/hard', type: 'hardlink', linkpath: '/etc/passwd' })), /Link/);
    await refused('link then file through it', tarOf(MANIFEST, tarEntry({ path: 'tags', type: 'symlink', linkpath: outside }), tarEntry({ path: 'tags/pwned', body: 'x' })), /SymbolicLink/);
    await refused('character device', tarOf(MANIFEST, tarEntry({ path: 'images/dev', type: 'chardev' })), /CharacterDevice/);
    await refused('FIFO', tarOf(MANIFEST, tarEntry({ path: 'images/fifo', type: 'fifo' })), /FIFO/);
  });

  it('refuses a 10 GB entry, a million entries and a gzip bomb without reading them through', async () => {
    await refused('10 GB entry', tarOf(MANIFEST, tarEntry({ path: 'images/huge', declaredSize: 10 * 1024 ** 3 })), /declares/);
    await refused('1,000,000 entries', Readable.from(manyEmptyEntries(1_000_000)), /more than 100000 entries/);

    // A bomb scaled down: 40 MB of zeros in 40 KB of gzip, against a 10 MB total limit.
    const zeros = Buffer.alloc(8 * 1024 * 1024);
    const bomb = zlib.gzipSync(tarOf(MANIFEST, ...[0, 1, 2, 3, 4].map((i) => tarEntry({ path: `images/zero${i}`, body: zeros }))));
    assert.ok(bomb.length < 200_000);
    const target = await tempDir();
    const limits = { maxEntries: 100, maxFileBytes: 16 * 1024 * 1024, maxTotalBytes: 10 * 1024 * 1024 };
    await assert.rejects(restoreStateArchive(Readable.from([bomb]), target, `${target}.spool`, limits), /add up to more than/);
    assert.deepEqual(await fs.readdir(target), [], 'nothing unpacked');
    await fs.rm(target, { recursive: true, force: true });
  });

  it('refuses an unknown format version, a model that does not parse, and junk', async () => {
    const v99 = tarEntry({ path: 'manifest.json', body: JSON.stringify({ name: 'tagsmith-state', formatVersion: 99 }) });
    await refused('format 99', tarOf(v99), /format version 99/);
    const samples = tarEntry({ path: 'tags/broken/samples.json', body: JSON.stringify({ name: 'tagsmith-samples', formatVersion: 1, tag: 'broken', samples: [] }) });
    await refused('bad model', tarOf(MANIFEST, samples, tarEntry({ path: 'tags/broken/model.json', body: '{"name": "tagsmith-tag-model", "formatV' })), /model.json does not parse/);
    await refused('a sample without its image', tarOf(MANIFEST, tarEntry({ path: 'tags/x/samples.json', body: JSON.stringify({ name: 'tagsmith-samples', formatVersion: 1, tag: 'x', samples: [{ id: 'a'.repeat(64), type: 'positive', addedAt: 'now' }] }) })), /has no image/);
    await refused('not a tar at all', Buffer.from('hello, this is not an archive'.repeat(40)));
    await refused('an empty upload', Buffer.alloc(0), /empty/);
  });

  it('still accepts the real backup, also gzipped', async () => {
    assert.deepEqual(await engine.setState(Readable.from([zlib.gzipSync(good)])), { tags: 1, samples: 8 });
    assert.deepEqual((await engine.predict(probe)).custom, expected);
    assert.ok(os.tmpdir().length > 0);
  });
});
