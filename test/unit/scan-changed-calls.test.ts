// The calls a retrain changed stay known for every scan kept, whichever scan was read since:
// the explorer's badges read each folder's newest scan after a retrain, and the review panel
// then asks its own scan how many calls changed.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ScannedImageView } from '../../kernel/client/tagsmith-client';
import { blobImages, stripedImages, tempDir } from '../helpers/engine';
import { startTestServer, type TestServer } from '../helpers/server';

const TAG = 'stripes';

describe('changed calls over several scans', { timeout: 300_000 }, () => {
  let server: TestServer;
  let photos: string;

  before(async () => {
    photos = await fs.realpath(await tempDir('tagsmith-changed-'));
    for (const folder of ['a', 'b']) await fs.mkdir(path.join(photos, folder));
    for (const [i, bytes] of (await stripedImages(6, 40)).entries()) await fs.writeFile(path.join(photos, i < 3 ? 'a' : 'b', `s${i}.jpg`), bytes);
    for (const [i, bytes] of (await blobImages(6, 40)).entries()) await fs.writeFile(path.join(photos, i < 3 ? 'a' : 'b', `b${i}.jpg`), bytes);
    server = await startTestServer({}, undefined, { scanRoots: [photos] });
    // Trained with two of five labels wrong each side, so that training on the right ones turns calls.
    const striped = await stripedImages(5);
    const blobs = await blobImages(5);
    for (const bytes of [...striped.slice(0, 3), ...blobs.slice(3)]) await server.client.addSample('positive', TAG, bytes);
    for (const bytes of [...blobs.slice(0, 3), ...striped.slice(3)]) await server.client.addSample('negative', TAG, bytes);
    await server.client.train(TAG);
  });
  after(async () => {
    await server?.close();
    await fs.rm(photos, { recursive: true, force: true });
  });

  const calls = (images: ScannedImageView[]) => new Map(images.map((i) => [i.path, i.tags[TAG].applies]));

  it("keeps a scan's changed calls while another scan is read", async () => {
    const client = server.client;
    const first = await client.scan([path.join(photos, 'a')]);
    const second = await client.scan([path.join(photos, 'b')]);
    const before = calls((await client.scanResults(first.scan_id, { tag: TAG, limit: 100 })).images);
    await client.scanResults(second.scan_id, { tag: TAG, limit: 100 });

    for (const bytes of await stripedImages(6, 10)) await client.addSample('positive', TAG, bytes);
    for (const bytes of await blobImages(6, 10)) await client.addSample('negative', TAG, bytes);
    await client.train(TAG);
    // The badges' way: every folder's newest scan, the other one last.
    await client.scanResults(second.scan_id, { tag: TAG, limit: 100 });
    await client.scanResults(first.scan_id, { tag: TAG, limit: 100 });
    await client.scanResults(second.scan_id, { tag: TAG, limit: 100 });

    const after = (await client.scanResults(first.scan_id, { tag: TAG, limit: 100 })).images;
    const turned = after
      .filter((i) => before.get(i.path) !== i.tags[TAG].applies)
      .map((i) => i.path)
      .sort();
    assert.ok(turned.length > 0, "training on the right labels turned some of the first scan's calls");
    assert.deepEqual(
      after
        .filter((i) => i.changed)
        .map((i) => i.path)
        .sort(),
      turned,
    );
    const queue = await client.reviewQueue(TAG, { scanId: first.scan_id });
    assert.equal(queue.changedCalls, turned.length);
  });
});
