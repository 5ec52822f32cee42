// A review decision as the panel's host makes it (ReviewRequests): saved before the panel hears
// of it, so the engine SIGKILLed right after the reply still has the sample when it comes back;
// and undone, the state folder is what it was byte for byte (the samples list, the sample's
// image and features, the digest a model is checked against), not merely a listing that looks
// the same. (Moves, "already so" and "more like this": review-requests.test.ts.)
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EngineProcess } from '../../extension/engine/engine-process';
import { ReviewRequests } from '../../extension/panels/review-requests';
import type { TagsmithClient } from '../../kernel/client/tagsmith-client';
import { samplesDigest } from '../../kernel/engine/sample-store';
import { blobImages, stripedImages, tempDir } from '../helpers/engine';
import { serversPerTest } from '../helpers/server';
import { inspectState } from '../helpers/state-invariants';

const TAG = 'stripes';
const cliPath = path.resolve(__dirname, '../../dist/kernel/cli.js');

/** A folder of scanned-to-be photos: four striped (s0…s3) and four blobs (b0…b3). */
async function photoFolder(): Promise<string> {
  const dir = await fs.realpath(await tempDir('tagsmith-review-durability-'));
  for (const [i, bytes] of (await stripedImages(4, 40)).entries()) await fs.writeFile(path.join(dir, `s${i}.jpg`), bytes);
  for (const [i, bytes] of (await blobImages(4, 40)).entries()) await fs.writeFile(path.join(dir, `b${i}.jpg`), bytes);
  return dir;
}

/** Every file of the state's current generation with its content's hash; task history left out (training writes it, not a decision). */
async function generationFiles(stateDir: string): Promise<Record<string, string>> {
  const { generation } = JSON.parse(await fs.readFile(path.join(stateDir, 'CURRENT'), 'utf8')) as { generation: string };
  const root = path.join(stateDir, generation);
  const files: Record<string, string> = {};
  for (const entry of await fs.readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    const name = path.relative(root, file);
    if (name.split(path.sep)[0] === 'tasks') continue;
    files[name] = createHash('sha256')
      .update(await fs.readFile(file))
      .digest('hex');
  }
  return files;
}

/** What a user sees of the tag: its samples, their digest, whether the model is stale, the reviewed count. */
async function tagState(client: TagsmithClient) {
  const { positives, negatives } = await client.samples(TAG);
  const samples = [...positives, ...negatives];
  const summary = (await client.tags()).find((t) => t.tag === TAG);
  const queue = await client.reviewQueue(TAG, { limit: 1 });
  return {
    samples,
    digest: samplesDigest(samples.map((s) => ({ id: s.id, type: s.type, addedAt: s.addedAt }))),
    stale: summary?.stale,
    reviewedSinceTraining: queue.reviewedSinceTraining,
  };
}

describe('a review decision survives the engine killed right after it', { timeout: 300_000 }, () => {
  let photos: string;
  let stateDir: string;
  let engine: EngineProcess | undefined;

  before(async () => {
    photos = await photoFolder();
    stateDir = await tempDir('tagsmith-review-durability-state-');
  });
  after(async () => {
    await engine?.stop();
    await fs.rm(photos, { recursive: true, force: true });
    await fs.rm(stateDir, { recursive: true, force: true });
  });

  it('finds the sample after a SIGKILL the moment the decision was answered', async () => {
    const start = () => EngineProcess.start({ cliPath, stateDir, port: 0, threads: 1, scanRoots: [photos], log: () => undefined });
    engine = await start();
    const first = engine;
    await first.client.scan([photos]);
    const file = path.join(photos, 's0.jpg');
    const effect = await new ReviewRequests(
      async () => first.client,
      () => undefined,
    ).decide({ tag: TAG, type: 'positive', target: { path: file } });
    assert.equal(effect.kind, 'added');
    const killed = new Promise<void>((resolve) => first.onCrash(() => resolve()));
    process.kill(first.pid, 'SIGKILL');
    await killed;

    engine = await start();
    const { positives } = await engine.client.samples(TAG);
    assert.deepEqual(
      positives.map((s) => s.id),
      [effect.kind === 'added' ? effect.sampleId : ''],
    );
    assert.deepEqual(Buffer.from(await engine.client.sampleImage(positives[0].id)), await fs.readFile(file), "the sample's image is the file's bytes");
    assert.deepEqual((await inspectState(stateDir)).problems, [], 'the sample has its image and features, no temporary file is left');
  });
});

describe('undoing a review decision', { timeout: 300_000 }, () => {
  const ownServer = serversPerTest();
  let photos: string;

  before(async () => {
    photos = await photoFolder();
  });
  after(() => fs.rm(photos, { recursive: true, force: true }));

  /** A trained tag and a scan of the photos, as the review panel finds them. */
  async function reviewing() {
    const server = await ownServer({}, undefined, { scanRoots: [photos] });
    for (const bytes of await stripedImages(3)) await server.client.addSample('positive', TAG, bytes);
    for (const bytes of await blobImages(3)) await server.client.addSample('negative', TAG, bytes);
    await server.client.train(TAG);
    await server.client.scan([photos]);
    return {
      server,
      requests: new ReviewRequests(
        async () => server.client,
        () => undefined,
      ),
    };
  }

  it('restores the exact state before an added sample', async () => {
    const { server, requests } = await reviewing();
    const files = await generationFiles(server.engine.stateDir);
    const seen = await tagState(server.client);
    assert.equal(seen.stale, false);

    const effect = await requests.decide({ tag: TAG, type: 'positive', target: { path: path.join(photos, 's1.jpg') } });
    assert.equal(effect.kind, 'added');
    const decided = await tagState(server.client);
    assert.equal(decided.samples.length, seen.samples.length + 1);
    assert.deepEqual([decided.stale, decided.reviewedSinceTraining], [true, seen.reviewedSinceTraining + 1]);
    assert.notDeepEqual(await generationFiles(server.engine.stateDir), files, 'the decision wrote the sample, its image and features');

    await requests.undo({ tag: TAG, effect });
    assert.deepEqual(await tagState(server.client), seen);
    assert.deepEqual(await generationFiles(server.engine.stateDir), files, 'no file left behind or changed');
  });

  it('restores the exact state before a sample moved to the other side', async () => {
    const { server, requests } = await reviewing();
    const file = path.join(photos, 'b1.jpg');
    await server.client.addSample('positive', TAG, await fs.readFile(file));
    const files = await generationFiles(server.engine.stateDir);
    const seen = await tagState(server.client);

    const effect = await requests.decide({ tag: TAG, type: 'negative', target: { path: file } });
    assert.equal(effect.kind, 'moved');
    assert.notDeepEqual((await tagState(server.client)).digest, seen.digest);

    await requests.undo({ tag: TAG, effect });
    assert.deepEqual(await tagState(server.client), seen);
    assert.deepEqual(await generationFiles(server.engine.stateDir), files, 'the samples list is back byte for byte');
  });
});
