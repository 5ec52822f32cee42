// The host's side of a review decision, over a real engine: an image already a sample of the
// other kind is moved (and moved back by undo), one already of that kind changes nothing, and
// "more like this" for a file on disk leaves the file itself out.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EngineWatcher } from '../../extension/engine/engine-watcher';
import { PanelRequests, type PageContext } from '../../extension/panels/panel-requests';
import { blobImages, stripedImages, tempDir } from '../helpers/engine';
import { startTestServer, type TestServer } from '../helpers/server';

const TAG = 'stripes';
const page: PageContext = { imageSrc: (file) => `test-image:${file}` };

describe('review requests', { timeout: 300_000 }, () => {
  let server: TestServer;
  let photos: string;
  let requests: PanelRequests;
  let watcher: EngineWatcher;

  before(async () => {
    photos = await fs.realpath(await tempDir('tagsmith-review-requests-'));
    for (const [i, bytes] of (await stripedImages(4, 40)).entries()) await fs.writeFile(path.join(photos, `s${i}.jpg`), bytes);
    for (const [i, bytes] of (await blobImages(4, 40)).entries()) await fs.writeFile(path.join(photos, `b${i}.jpg`), bytes);
    server = await startTestServer({}, undefined, { scanRoots: [photos] });
    for (const bytes of await stripedImages(3)) await server.client.addSample('positive', TAG, bytes);
    for (const bytes of await blobImages(3)) await server.client.addSample('negative', TAG, bytes);
    await server.client.train(TAG);
    await server.client.scan([photos]);
    watcher = new EngineWatcher({ busyMs: 150, idleMs: 400 });
    requests = new PanelRequests(async () => server.client, watcher, {
      readDroppedUris: async () => ({ files: [], skipped: [] }),
      openSample: async () => undefined,
      openPanel: async () => undefined,
      openFile: async () => undefined,
      trainingStarted: () => undefined,
    });
  });
  after(async () => {
    watcher?.dispose();
    await server?.close();
    await fs.rm(photos, { recursive: true, force: true });
  });

  const samples = async () => {
    const { positives, negatives } = await server.client.samples(TAG);
    return [...positives, ...negatives].map((s) => `${s.type}:${s.id}`).sort();
  };

  it("gives the queue's images a URL of the asking page", async () => {
    const queue = await requests.handle('review/queue', { tag: TAG, view: 'informative', offset: 0, limit: 3 }, page);
    assert.equal(queue.images.length, 3);
    assert.ok(queue.images.every((i) => i.src === `test-image:${i.path}`));
  });

  it('moves an image that is a sample of the other kind, and undo moves it back', async () => {
    const file = path.join(photos, 's1.jpg');
    await server.client.addSample('negative', TAG, await fs.readFile(file));
    const before = await samples();
    const effect = await requests.handle('review/decide', { tag: TAG, type: 'positive', target: { path: file } }, page);
    assert.equal(effect.kind, 'moved');
    assert.ok((await server.client.samples(TAG)).positives.some((s) => effect.kind === 'moved' && s.id === effect.sampleId));
    const again = await requests.handle('review/decide', { tag: TAG, type: 'positive', target: { path: file } }, page);
    assert.deepEqual(again, { kind: 'none' }, 'already a positive: nothing to undo');
    await requests.handle('review/undo', { tag: TAG, effect }, page);
    assert.deepEqual(await samples(), before);
  });

  it('refuses to read a file that is not an image', async () => {
    await assert.rejects(
      requests.handle('review/decide', { tag: TAG, type: 'positive', target: { path: '/etc/passwd' } }, page),
      (e: { code?: string }) => e.code === 'not_an_image',
    );
  });

  it('finds more like a file on disk, without the file itself', async () => {
    const file = path.join(photos, 's2.jpg');
    const found = await requests.handle('review/similar', { target: { path: file, label: 's2.jpg' }, limit: 3 }, page);
    assert.equal(found.images.length, 3);
    assert.ok(found.images.every((i) => i.path !== file));
    assert.ok(found.images.filter((i) => path.basename(i.path).startsWith('s')).length >= 2, found.images.map((i) => i.path).join(', '));
  });
});
