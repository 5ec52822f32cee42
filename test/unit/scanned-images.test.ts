// The explorer's badges against a real engine, without VS Code: a folder is scanned, its images
// read page by page; a tag trained again with one more sample (by another client, as from a
// notebook) changes calls, and the watcher's onDidChangeModels is what gets them read again; a
// removed tag takes its badges with it; a newer scan of the folder replaces the older one. Waits
// on events, never on the clock.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TagsmithClient } from '../../kernel/client/tagsmith-client';
import { EngineWatcher, type TrainedTags } from '../../extension/engine/engine-watcher';
import { ScannedImages } from '../../extension/engine/scanned-images';
import type { Event } from '../../extension/logic/event-source';
import { imageDecorations, shownTags, type LoadedScan } from '../../extension/logic/scan-badges';
import { blobImages, stripedImages, tempDir } from '../helpers/engine';
import { blobs } from '../helpers/images';
import { startTestServer, type TestServer } from '../helpers/server';

/** The next value of `event` that `holds`. */
function next<T>(event: Event<T>, holds: (value: T) => boolean = () => true): Promise<T> {
  return new Promise((resolve) => {
    const subscription = event((value) => {
      if (!holds(value)) return;
      subscription.dispose();
      resolve(value);
    });
  });
}

describe("scanned images for the explorer's badges", { timeout: 240_000 }, () => {
  let server: TestServer;
  let folder: string;
  let photos: string;
  let other: TagsmithClient;
  let watcher: EngineWatcher;
  let scanned: ScannedImages;
  const pageRequests: number[] = [];
  const models: TrainedTags[] = [];
  const errors: string[] = [];

  /** Which files of photos/ get which badge, as the explorer would show them now. */
  const badges = (scans: readonly LoadedScan[] = scanned.scans) => {
    const trained = models.at(-1)?.tags.map((t) => t.tag) ?? [];
    return Object.fromEntries([...imageDecorations(scans, shownTags([], trained)).values()].map((d) => [path.relative(photos, d.path), d.badge]));
  };

  const train = async (options = { num_clusters: 1 }) => {
    const trainedAt = models.at(-1)?.tags.find((t) => t.tag === 'stripes')?.trainedAt;
    const retrained = next(watcher.onDidChangeModels, (m) => m.tags.some((t) => t.tag === 'stripes' && t.trainedAt !== trainedAt));
    await other.train('stripes', options);
    return retrained;
  };

  before(async () => {
    folder = await tempDir('tagsmith-scanned-');
    photos = path.join(folder, 'photos');
    await fs.mkdir(path.join(photos, 'more'), { recursive: true });
    server = await startTestServer({}, undefined, { scanRoots: [folder] });
    other = new TagsmithClient({ url: server.url });
    for (const image of await stripedImages(8)) await other.addSample('positive', 'stripes', image);
    for (const image of await blobImages(8)) await other.addSample('negative', 'stripes', image);
    for (const [i, image] of (await stripedImages(2, 20)).entries()) await fs.writeFile(path.join(photos, `s${i}.jpg`), image);
    for (const [i, image] of (await blobImages(2, 20)).entries()) await fs.writeFile(path.join(photos, `b${i}.jpg`), image);
    // Green blobs: not stripes, until one is added as a positive.
    for (let i = 0; i < 2; i++)
      await fs.writeFile(
        path.join(photos, 'more', `green${i}.jpg`),
        await blobs(200, 180, 400 + i, [30, 160, 60])
          .jpeg({ quality: 90 })
          .toBuffer(),
      );

    watcher = new EngineWatcher({ busyMs: 20, idleMs: 50 });
    watcher.onDidChangeModels((m) => models.push(m));
    const ours = new TagsmithClient({ url: server.url });
    const source = {
      scans: () => ours.scans(),
      scanResults: (id: string, query: Parameters<TagsmithClient['scanResults']>[1]) => {
        pageRequests.push(query?.offset ?? 0);
        return ours.scanResults(id, query);
      },
    };
    // Two images a page, so reading a scan takes several pages.
    scanned = new ScannedImages(
      async () => source,
      () => [folder],
      { pageSize: 2, onError: (message) => errors.push(message) },
    );
    watcher.onDidChangeModels(() => void scanned.modelsChanged());
    const first = next(watcher.onDidChangeModels);
    watcher.engineReady(ours);
    assert.deepEqual((await first).tags, [], 'the first read of a run is announced, with no tag trained yet');
    await train();
  });

  after(async () => {
    scanned?.dispose();
    watcher?.dispose();
    await server?.close();
    await fs.rm(folder, { recursive: true, force: true });
  });

  it('reads a scanned folder page by page and badges the images a tag applies to', async () => {
    const done = await server.client.scan([photos]);
    assert.equal(done.state, 'done');
    pageRequests.length = 0;
    await scanned.refresh();
    assert.deepEqual(pageRequests, [0, 2, 4], 'six images, two a page');
    assert.equal(scanned.scans.length, 1);
    assert.equal(scanned.scans[0].images.length, 6);
    assert.deepEqual(badges(), { 's0.jpg': 'St', 's1.jpg': 'St' });
  });

  it('reads the calls again when the tag is trained again elsewhere, so a call that changed shows', async () => {
    await other.addSample('positive', 'stripes', await fs.readFile(path.join(photos, 'more', 'green0.jpg')));
    const reread = next(scanned.onDidChange);
    await train();
    await reread;
    assert.equal(badges()[path.join('more', 'green0.jpg')], 'St', 'the green blob added as a positive is tagged now');
    assert.equal(badges()['b0.jpg'], undefined);
  });

  it('lets a newer scan of a folder replace the older one, and keeps both when they cover different folders', async () => {
    const before = scanned.scans[0].id;
    const shown = badges();
    await server.client.scan([path.join(photos, 'more')]);
    await scanned.refresh();
    assert.deepEqual(
      scanned.scans.map((s) => s.inputs),
      [[path.join(photos, 'more')], [photos]],
      'photos/ still decides its other files',
    );
    await server.client.scan([photos]);
    await scanned.refresh();
    assert.equal(scanned.scans.length, 1);
    assert.notEqual(scanned.scans[0].id, before);
    assert.deepEqual(badges(), shown, 'the same files, the same calls');
  });

  it("takes a removed tag's badges away", async () => {
    const removed = next(watcher.onDidChangeModels, (m) => m.tags.length === 0);
    const reread = next(scanned.onDidChange);
    await other.clean('stripes');
    await removed;
    assert.deepEqual(badges(), {}, 'at once, by the trained tags the watcher read');
    await reread;
    assert.deepEqual(
      scanned.scans[0].images.flatMap((i) => Object.keys(i.tags)),
      [],
      'and the calls read again have no such tag',
    );
  });

  it('announces the trained tags again when another run of the engine answers', async () => {
    const again = next(watcher.onDidChangeModels);
    watcher.engineStarting();
    watcher.engineReady(new TagsmithClient({ url: server.url }));
    assert.deepEqual((await again).tags, []);
    assert.deepEqual(errors, []);
  });
});
