// A sample's files (image, embeddings of every backbone, cached thumbnails) go once no tag
// lists it: after /clean and after removing samples, across restarts and in backups. They are
// deleted only after the list that dropped them is on disk (a crash in between leaves files
// the next start sweeps), and never while an add that is about to list them is in flight.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { TagsmithApiError } from '../../kernel/client/tagsmith-client';
import { sha256 } from '../../kernel/engine/embedder';
import { TagsmithEngine, type EngineHooks } from '../../kernel/engine/tagsmith-engine';
import { findFile, json, packArchive, unpackArchive } from '../helpers/archive-edit';
import { blobImages, openTestEngine, stripedImages, tempDir } from '../helpers/engine';
import { startTestServer, type TestServer } from '../helpers/server';
import { inspectState } from '../helpers/state-invariants';

const gone = (promise: Promise<unknown>) =>
  assert.rejects(promise, (e: unknown) => e instanceof TagsmithApiError && e.status === 404 && e.code === 'unknown_sample');

/** Every file of the current generation and the thumbnail cache that names `id`. */
async function filesOf(stateDir: string, id: string): Promise<string[]> {
  // Not tmp/: a finished download's snapshot is removed there while this walks.
  const all: string[] = [];
  for (const top of await fs.readdir(stateDir)) {
    if (top === 'tmp') continue;
    const stat = await fs.stat(path.join(stateDir, top));
    if (!stat.isDirectory()) all.push(top);
    else for (const f of await fs.readdir(path.join(stateDir, top), { recursive: true })) all.push(path.join(top, f));
  }
  return all.filter((f) => f.includes(id)).sort();
}

describe("removed samples' files", () => {
  // Pictures made once and only read; a server (restarted by some tests) and state per test.
  let striped: Buffer[];
  let blobs: Buffer[];
  let ids: { striped: string[]; blobs: string[] };
  let server: TestServer;
  let stateDir: string;
  before(async () => {
    striped = await stripedImages(4);
    blobs = await blobImages(4);
    ids = { striped: striped.map(sha256), blobs: blobs.map(sha256) };
  });
  beforeEach(async () => {
    stateDir = path.join(await tempDir('tagsmith-files-'), 'state');
    server = await startTestServer({}, stateDir);
  });
  afterEach(async () => {
    await server.close();
    await fs.rm(path.dirname(stateDir), { recursive: true, force: true });
  });

  it('go with /clean: not served, not archived, not on disk, and still gone after a restart; a sample another tag lists stays', async () => {
    const { client } = server;
    for (const image of striped.slice(0, 3)) await client.addSample('positive', 'doomed', image);
    for (const image of blobs.slice(0, 2)) await client.addSample('negative', 'doomed', image);
    await client.addSample('positive', 'kept', striped[0]); // shared with the doomed tag
    for (const id of [...ids.striped.slice(0, 3), ...ids.blobs.slice(0, 2)]) await client.thumbnail(id, 64);
    const onlyDoomed = [...ids.striped.slice(1, 3), ...ids.blobs.slice(0, 2)];
    assert.ok((await filesOf(stateDir, onlyDoomed[0])).length >= 3, 'image, embedding and thumbnail were there');

    await client.clean('doomed');
    for (const id of onlyDoomed) {
      await gone(client.sampleImage(id));
      await gone(client.thumbnail(id, 64));
      assert.deepEqual(await filesOf(stateDir, id), [], `no file of ${id} is left`);
    }
    assert.deepEqual(await client.sampleImage(ids.striped[0]), new Uint8Array(striped[0]), 'the shared sample keeps its image');
    const archived = [...(await unpackArchive(await client.getState())).keys()];
    assert.deepEqual(
      archived.filter((f) => onlyDoomed.some((id) => f.includes(id))),
      [],
      'the backup carries none of them',
    );
    assert.ok(archived.includes(`images/${ids.striped[0]}`));

    await server.close({ keepState: true });
    server = await startTestServer({}, stateDir);
    for (const id of onlyDoomed) await gone(server.client.sampleImage(id));
    assert.deepEqual((await inspectState(stateDir)).problems, []);
  });

  it('go when the last tag listing a sample removes it, and not before', async () => {
    const { client } = server;
    await client.addSample('negative', 'first', blobs[3]);
    await client.addSample('negative', 'second', blobs[3]);
    await client.removeSample('first', ids.blobs[3]);
    assert.deepEqual(await client.sampleImage(ids.blobs[3]), new Uint8Array(blobs[3]), 'still listed by "second"');
    await client.thumbnail(ids.blobs[3], 48);
    await client.removeSample('second', ids.blobs[3]);
    await gone(client.sampleImage(ids.blobs[3]));
    await gone(client.thumbnail(ids.blobs[3], 48));
    assert.deepEqual(await filesOf(stateDir, ids.blobs[3]), []);
  });

  it('left by a crash after the list was written are swept at the next start, and a restore drops unlisted ones', async () => {
    const { client } = server;
    for (const image of [striped[0], striped[3]]) await client.addSample('positive', 'kept', image);
    const files = await unpackArchive(await client.getState());
    const generation = path.join(stateDir, JSON.parse(await fs.readFile(path.join(stateDir, 'CURRENT'), 'utf8')).generation);
    await server.close({ keepState: true });

    // What a crash between a list's write and the deletion leaves: files of a sample no list
    // names (an image, its embeddings of this and another backbone, a thumbnail).
    const orphan = (await blobImages(1, 50))[0];
    const orphanId = sha256(orphan);
    const embedding = findFile(files, /^features\/.+\.json$/);
    const backbone = embedding.split('/')[1];
    await fs.writeFile(path.join(generation, 'images', orphanId), orphan);
    await fs.writeFile(path.join(generation, 'features', backbone, `${orphanId}.json`), files.get(embedding)!);
    await fs.mkdir(path.join(generation, 'features', 'another-net'));
    await fs.writeFile(
      path.join(generation, 'features', 'another-net', `${orphanId}.json`),
      JSON.stringify({ ...json(files, embedding), backbone: 'another-net' }),
    );
    await fs.writeFile(path.join(stateDir, 'cache', 'thumbnails', `${orphanId}-64.webp`), orphan);
    assert.equal((await filesOf(stateDir, orphanId)).length, 4);

    server = await startTestServer({}, stateDir);
    assert.deepEqual(await filesOf(stateDir, orphanId), [], 'swept at start');
    assert.deepEqual((await inspectState(stateDir)).problems, []);
    assert.deepEqual(
      (await server.client.tags()).map((t) => [t.tag, t.positives]),
      [['kept', 2]],
    );

    const withOrphan = new Map(files).set(`images/${orphanId}`, orphan);
    assert.deepEqual(await server.client.setState(await packArchive(withOrphan)), { tags: 1, samples: 2 });
    assert.deepEqual(await filesOf(stateDir, orphanId), [], 'an unlisted image of a backup is not kept');
  });
});

describe('an add and a sweep of unlisted files at once', () => {
  let stateDir: string;
  let engine: TagsmithEngine;
  let events: string[];
  let hooks: Required<Pick<EngineHooks, 'waiting' | 'holding'>>;
  let image: Buffer;
  let id: string;
  /** What the test does at each hook, once armed. */
  let onWaiting: (who: string) => void;
  let onHolding: (who: string, ids: string[]) => Promise<void> | void;

  before(async () => {
    stateDir = await tempDir();
    hooks = {
      waiting: (who) => {
        events.push(`${who} waiting`);
        onWaiting(who);
      },
      holding: async (who, ids) => {
        events.push(`${who} holding [${ids.length}]`);
        await onHolding(who, ids);
      },
    };
    engine = await TagsmithEngine.open({ stateDir, threads: 2, hooks });
    [image] = await stripedImages(1, 60);
    id = sha256(image);
  });
  after(async () => {
    await engine.close();
    await fs.rm(stateDir, { recursive: true, force: true });
  });

  /** The image listed by `a` only, hooks quiet. */
  async function start(): Promise<void> {
    onWaiting = () => {};
    onHolding = () => {};
    events = [];
    for (const tag of ['a', 'b']) await engine.clean(tag).catch(() => undefined);
    await engine.addSample('positive', 'a', image);
    events = [];
  }

  async function assertListedWithFiles(tag: string): Promise<void> {
    const { positives } = await engine.listSamples(tag);
    assert.deepEqual(
      positives.map((s) => s.id),
      [id],
    );
    assert.deepEqual(await engine.sampleImage(id), image);
    assert.deepEqual((await inspectState(stateDir, engine.backbone)).problems, []);
  }

  it('a sweep that comes while an add holds its stored files waits, then keeps them', async () => {
    await start();
    let addHeld!: () => void;
    const held = new Promise<void>((resolve) => (addHeld = resolve));
    let releaseAdd!: () => void;
    const gate = new Promise<void>((resolve) => (releaseAdd = resolve));
    onHolding = async (who) => {
      if (who === 'add') {
        addHeld();
        await gate;
      }
    };
    // The add to "b" stops with the image and embedding stored, its list not yet written.
    const adding = engine.addSample('positive', 'b', image);
    await held;
    // Meanwhile "a" drops the image; its sweep queues for the lock, and then the add may go on.
    onWaiting = (who) => who === 'sweep' && releaseAdd();
    await Promise.all([adding, engine.removeSample('a', id)]);
    assert.deepEqual(
      events,
      ['add waiting', 'add holding [1]', 'sweep waiting', 'sweep holding [0]'],
      'the sweep read the lists after the add had listed the image, and kept it',
    );
    await assertListedWithFiles('b');
  });

  it('an add that comes while a sweep holds the lock waits, then stores the files again', async () => {
    await start();
    let sweepHeld!: () => void;
    const held = new Promise<void>((resolve) => (sweepHeld = resolve));
    let releaseSweep!: () => void;
    const gate = new Promise<void>((resolve) => (releaseSweep = resolve));
    onHolding = async (who) => {
      if (who === 'sweep') {
        sweepHeld();
        await gate;
      }
    };
    // "a" drops the image; its sweep stops with the lists read (nothing lists it), nothing deleted.
    const removing = engine.removeSample('a', id);
    await held;
    // Meanwhile the same image is added to "b"; once it queues for the lock the sweep goes on.
    onWaiting = (who) => who === 'add' && releaseSweep();
    await Promise.all([removing, engine.addSample('positive', 'b', image)]);
    assert.deepEqual(
      events,
      ['sweep waiting', 'sweep holding [1]', 'add waiting', 'add holding [1]'],
      'the add stored its files after the sweep had deleted them',
    );
    await assertListedWithFiles('b');
  });

  it('a crash while a sweep holds the lock (lists written, nothing deleted) leaves a state that starts, without the unlisted files', async () => {
    await start();
    const crashed = `${stateDir}-crashed`;
    onHolding = async (who) => {
      if (who === 'sweep') await fs.cp(stateDir, crashed, { recursive: true });
    };
    await engine.removeSample('a', id);
    try {
      assert.ok((await filesOf(crashed, id)).length >= 2, 'the copy has the files the sweep was about to delete');
      const reopened = (await openTestEngine(crashed)).engine;
      try {
        assert.deepEqual((await reopened.listSamples('a')).positives, []);
        assert.deepEqual(await filesOf(crashed, id), [], 'swept at start');
      } finally {
        await reopened.close();
      }
    } finally {
      await fs.rm(crashed, { recursive: true, force: true });
    }
  });
});
