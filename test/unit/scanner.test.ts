// A folder scan with the real network: what a user notices is a rescan that embeds nothing,
// a changed photo embedded again, bad files named and skipped, and a cancelled scan keeping
// what it had done.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Embedder } from '../../kernel/engine/embedder';
import { FeatureExtractor } from '../../kernel/features/feature-extractor';
import { ScanIndex } from '../../kernel/scan/scan-index';
import { scanImages, type ScanEmbeddings } from '../../kernel/scan/scanner';
import { FeatureCache } from '../../kernel/state/feature-cache';
import { checkCurrentEmbedding, type EmbeddingRecord } from '../../kernel/state/stored-records';
import { blobImages, stripedImages, tempDir } from '../helpers/engine';

describe('scanImages', () => {
  // The network and the pictures are made once and only read; each test scans folders of its
  // own into a scan state (index and feature cache) of its own.
  let extractor: FeatureExtractor;
  let embedder: Embedder;
  let pictures: Buffer[];
  const folders: string[] = [];
  const names = (outcome: { images: { path: string }[] }) => outcome.images.map((i) => path.basename(i.path));

  before(async () => {
    extractor = await FeatureExtractor.create({ backbone: 'mobilenet_v2_140', threads: 2 });
    embedder = new Embedder(extractor);
    pictures = [...(await stripedImages(4)), ...(await blobImages(4))];
  });
  after(async () => {
    await extractor?.release();
    for (const folder of folders.splice(0)) await fs.rm(folder, { recursive: true, force: true });
  });

  async function folder(prefix: string): Promise<string> {
    const made = await tempDir(prefix);
    folders.push(made);
    return made;
  }

  /** A folder with the eight pictures as p0…p7.jpg and a copy of p0. */
  async function photoFolder(): Promise<string> {
    const photos = await folder('tagsmith-scan-photos-');
    for (const [i, bytes] of pictures.entries()) await fs.writeFile(path.join(photos, `p${i}.jpg`), bytes);
    await fs.writeFile(path.join(photos, 'copy-of-p0.jpg'), pictures[0]);
    return photos;
  }

  /** A folder of `count` striped pictures (patterns from `offset` on), file i named `name(i)`. */
  async function stripedFolder(count: number, offset: number, name: (i: number) => string): Promise<string> {
    const photos = await folder('tagsmith-scan-cancel-');
    for (const [i, bytes] of (await stripedImages(count, offset)).entries()) await fs.writeFile(path.join(photos, name(i)), bytes);
    return photos;
  }

  /** A scan state in `state`, opened as a process starting would open it; `calls()` counts what it embedded. */
  async function scanState(state: string): Promise<{ embeddings: ScanEmbeddings; index: () => Promise<ScanIndex>; calls: () => number; cached: () => number }> {
    const cache = await FeatureCache.open<EmbeddingRecord>(path.join(state, 'cache'), {
      maxBytes: 1e9,
      check: (v) => checkCurrentEmbedding(v, 'cache', { backbone: extractor.backboneId, featureLength: extractor.featureLength }),
    });
    let calls = 0;
    const embeddings: ScanEmbeddings = {
      backbone: extractor.backboneId,
      featureLength: extractor.featureLength,
      known: (sha) => cache.get(extractor.backboneId, sha),
      embed: async (bytes, sha, signal) => {
        calls++;
        const record = await embedder.embed(bytes, sha, { lane: 'bulk', signal });
        await cache.put(extractor.backboneId, sha, record);
        return record;
      },
      flush: () => cache.flush(),
    };
    return { embeddings, index: () => ScanIndex.open(path.join(state, 'scan-index.json')), calls: () => calls, cached: () => cache.stats.entries };
  }

  it('embeds each new image once (the same bytes under two names too), in name order', async () => {
    const photos = await photoFolder();
    const scan = await scanState(await folder('tagsmith-scan-state-'));
    const outcome = await scanImages([photos], scan.embeddings, await scan.index());
    assert.deepEqual(names(outcome), ['copy-of-p0.jpg', 'p0.jpg', 'p1.jpg', 'p2.jpg', 'p3.jpg', 'p4.jpg', 'p5.jpg', 'p6.jpg', 'p7.jpg']);
    assert.equal(scan.calls(), 8);
    assert.equal(outcome.features.length, 9 * extractor.featureLength);
    assert.deepEqual(outcome.features.subarray(0, extractor.featureLength), outcome.features.subarray(extractor.featureLength, 2 * extractor.featureLength));
    assert.ok(outcome.images.every((i) => i.width > 0 && i.aesthetic >= 0 && i.aesthetic <= 1));
  });

  it('rescans an unchanged folder after a restart without embedding, and a changed file again', async () => {
    const photos = await photoFolder();
    const state = await folder('tagsmith-scan-state-');
    const first = await scanState(state);
    await scanImages([photos], first.embeddings, await first.index());
    assert.equal(first.calls(), 8);

    const restarted = await scanState(state);
    const again = await scanImages([photos], restarted.embeddings, await restarted.index());
    assert.equal(restarted.calls(), 0);
    assert.equal(again.embedded, 0);
    assert.equal(again.images.length, 9);

    const [replacement] = await blobImages(1, 40);
    await fs.writeFile(path.join(photos, 'p1.jpg'), replacement);
    const changed = await scanImages([photos], restarted.embeddings, await restarted.index());
    assert.equal(restarted.calls(), 1, 'only the changed file is embedded');
    assert.notEqual(changed.images.find((i) => i.path.endsWith('p1.jpg'))!.sha256, again.images.find((i) => i.path.endsWith('p1.jpg'))!.sha256);
  });

  it('names and skips unreadable, truncated, empty and non-image files, and keeps going', async () => {
    const bad = await folder('tagsmith-scan-bad-');
    const scan = await scanState(await folder('tagsmith-scan-state-'));
    const [good] = await stripedImages(1, 20);
    await fs.writeFile(path.join(bad, 'a-good.jpg'), good);
    await fs.writeFile(path.join(bad, 'b-empty.jpg'), '');
    await fs.writeFile(path.join(bad, 'c-text.jpg'), 'not an image at all');
    await fs.writeFile(path.join(bad, 'd-truncated.jpg'), good.subarray(0, Math.floor(good.length / 2)));
    await fs.writeFile(path.join(bad, 'e-locked.jpg'), good);
    await fs.chmod(path.join(bad, 'e-locked.jpg'), 0);
    const outcome = await scanImages([bad], scan.embeddings, await scan.index());
    assert.deepEqual(names(outcome), process.getuid?.() === 0 ? ['a-good.jpg', 'e-locked.jpg'] : ['a-good.jpg']);
    const reasons = Object.fromEntries(outcome.skipped.map((s) => [path.basename(s.path), s.reason]));
    assert.match(reasons['b-empty.jpg'], /empty/);
    assert.match(reasons['c-text.jpg'], /not an image/i);
    assert.match(reasons['d-truncated.jpg'], /truncated|corrupt|incomplete/i);
  });

  it('skips a file deleted during the scan, and keeps what a cancelled scan embedded', async () => {
    const photos = await stripedFolder(6, 60, (i) => `q${i}.jpg`);
    const scan = await scanState(await folder('tagsmith-scan-state-'));
    const controller = new AbortController();
    const outcome = await scanImages([photos], scan.embeddings, await scan.index(), {
      concurrency: 1,
      onProgress: (p) => {
        if (p.done === 1) rmSync(path.join(photos, 'q2.jpg')); // before q2 is read: q1 is still being embedded
        if (p.done === 3) controller.abort();
      },
      signal: controller.signal,
    });
    assert.equal(outcome.cancelled, true);
    assert.deepEqual(names(outcome), ['q0.jpg', 'q1.jpg']);
    assert.match(outcome.skipped.find((s) => s.path.endsWith('q2.jpg'))!.reason, /removed during the scan/);
    const embeddedBeforeCancel = scan.calls();
    const rest = await scanImages([photos], scan.embeddings, await scan.index());
    assert.equal(rest.images.length, 5);
    assert.equal(scan.calls() - embeddedBeforeCancel, 5 - embeddedBeforeCancel, 'the second scan embeds only what the first did not');
  });

  it('starts no file once cancelled: only those already in flight are embedded', async () => {
    const photos = await stripedFolder(10, 70, (i) => `r${i}.jpg`);
    const scan = await scanState(await folder('tagsmith-scan-state-'));
    const controller = new AbortController();
    // Two in flight, and the scan lines up three more behind them (its window is twice the files
    // in flight): without the cancel reaching those, five would be embedded.
    const outcome = await scanImages([photos], scan.embeddings, await scan.index(), {
      concurrency: 2,
      onProgress: (p) => {
        if (p.done === 1) controller.abort();
      },
      signal: controller.signal,
    });
    assert.equal(outcome.cancelled, true);
    assert.deepEqual(names(outcome), ['r0.jpg']);
    // r0, the two in flight at the cancel, and one more if r1 finished before the cancel was seen.
    assert.ok(scan.calls() <= 4, `${scan.calls()} files embedded: files lined up behind those in flight were started after the cancel`);
    assert.equal(outcome.skipped.length, 0, 'files never started are not reported as skipped');
  });

  it('drops the images a cancelled scan had queued for the network instead of embedding them', async () => {
    const photos = await stripedFolder(40, 80, (i) => `s${String(i).padStart(2, '0')}.jpg`);
    const scan = await scanState(await folder('tagsmith-scan-state-'));
    const controller = new AbortController();
    let asked = 0;
    // Cancelled the moment the last of the forty is handed over: the rest wait for the two inference workers.
    const embeddings: ScanEmbeddings = {
      ...scan.embeddings,
      embed: (bytes, sha, signal) => {
        if (++asked === 40) controller.abort();
        return scan.embeddings.embed(bytes, sha, signal);
      },
    };
    const outcome = await scanImages([photos], embeddings, await scan.index(), { concurrency: 64, signal: controller.signal });
    assert.equal(outcome.cancelled, true);
    // Only what the workers had finished or were holding at the cancel.
    assert.ok(scan.cached() <= 12, `${scan.cached()} of 40 images embedded after the cancel`);
  });
});
