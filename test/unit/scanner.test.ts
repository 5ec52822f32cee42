// A folder scan with the real network: what a user notices is a rescan that embeds nothing,
// a changed photo embedded again, bad files named and skipped, and a cancelled scan keeping
// what it had done.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Embedder } from '../../kernel/engine/embedder';
import { FeatureExtractor } from '../../kernel/features/feature-extractor';
import { ScanIndex } from '../../kernel/scan/scan-index';
import { scanImages, type ScanEmbeddings } from '../../kernel/scan/scanner';
import { FeatureCache } from '../../kernel/state/feature-cache';
import { checkEmbedding, type EmbeddingRecord } from '../../kernel/state/stored-records';
import { blobImages, stripedImages, tempDir } from '../helpers/engine';

describe('scanImages', () => {
  let extractor: FeatureExtractor;
  let state: string;
  let photos: string;
  let embeddings: ScanEmbeddings;
  let embedCalls = 0;
  const openIndex = () => ScanIndex.open(path.join(state, 'scan-index.json'));
  const names = (outcome: { images: { path: string }[] }) => outcome.images.map((i) => path.basename(i.path));

  before(async () => {
    extractor = await FeatureExtractor.create({ backbone: 'mobilenet_v2_140', threads: 2 });
    state = await tempDir('tagsmith-scan-state-');
    photos = await tempDir('tagsmith-scan-photos-');
    const embedder = new Embedder(extractor);
    const cache = await FeatureCache.open<EmbeddingRecord>(path.join(state, 'cache'), { maxBytes: 1e9, check: (v) => checkEmbedding(v, 'cache', { backbone: extractor.backboneId, featureLength: extractor.featureLength }) });
    embeddings = {
      backbone: extractor.backboneId,
      featureLength: extractor.featureLength,
      known: (sha) => cache.get(extractor.backboneId, sha),
      embed: async (bytes, sha) => {
        embedCalls++;
        const record = await embedder.embed(bytes, sha);
        await cache.put(extractor.backboneId, sha, record);
        return record;
      },
    };
    const images = [...(await stripedImages(4)), ...(await blobImages(4))];
    for (const [i, bytes] of images.entries()) await fs.writeFile(path.join(photos, `p${i}.jpg`), bytes);
    await fs.writeFile(path.join(photos, 'copy-of-p0.jpg'), images[0]);
  });
  after(() => extractor?.release());

  it('embeds each new image once (the same bytes under two names too), in name order', async () => {
    embedCalls = 0;
    const outcome = await scanImages([photos], embeddings, await openIndex());
    assert.deepEqual(names(outcome), ['copy-of-p0.jpg', 'p0.jpg', 'p1.jpg', 'p2.jpg', 'p3.jpg', 'p4.jpg', 'p5.jpg', 'p6.jpg', 'p7.jpg']);
    assert.equal(embedCalls, 8);
    assert.equal(outcome.features.length, 9 * extractor.featureLength);
    assert.deepEqual(outcome.features.subarray(0, extractor.featureLength), outcome.features.subarray(extractor.featureLength, 2 * extractor.featureLength));
    assert.ok(outcome.images.every((i) => i.width > 0 && i.aesthetic >= 0 && i.aesthetic <= 1));
  });

  it('rescans an unchanged folder after a restart without embedding, and a changed file again', async () => {
    embedCalls = 0;
    const again = await scanImages([photos], embeddings, await openIndex());
    assert.equal(embedCalls, 0);
    assert.equal(again.embedded, 0);
    assert.equal(again.images.length, 9);

    const [replacement] = await blobImages(1, 40);
    await fs.writeFile(path.join(photos, 'p1.jpg'), replacement);
    const changed = await scanImages([photos], embeddings, await openIndex());
    assert.equal(embedCalls, 1, 'only the changed file is embedded');
    assert.notEqual(changed.images.find((i) => i.path.endsWith('p1.jpg'))!.sha256, again.images.find((i) => i.path.endsWith('p1.jpg'))!.sha256);
  });

  it('names and skips unreadable, truncated, empty and non-image files, and keeps going', async () => {
    const folder = await tempDir('tagsmith-scan-bad-');
    const [good] = await stripedImages(1, 20);
    await fs.writeFile(path.join(folder, 'a-good.jpg'), good);
    await fs.writeFile(path.join(folder, 'b-empty.jpg'), '');
    await fs.writeFile(path.join(folder, 'c-text.jpg'), 'not an image at all');
    await fs.writeFile(path.join(folder, 'd-truncated.jpg'), good.subarray(0, Math.floor(good.length / 2)));
    await fs.writeFile(path.join(folder, 'e-locked.jpg'), good);
    await fs.chmod(path.join(folder, 'e-locked.jpg'), 0);
    const outcome = await scanImages([folder], embeddings, await openIndex());
    assert.deepEqual(names(outcome), process.getuid?.() === 0 ? ['a-good.jpg', 'e-locked.jpg'] : ['a-good.jpg']);
    const reasons = Object.fromEntries(outcome.skipped.map((s) => [path.basename(s.path), s.reason]));
    assert.match(reasons['b-empty.jpg'], /empty/);
    assert.match(reasons['c-text.jpg'], /not an image/i);
    assert.match(reasons['d-truncated.jpg'], /truncated|corrupt|incomplete/i);
  });

  it('skips a file deleted during the scan, and keeps what a cancelled scan embedded', async () => {
    const folder = await tempDir('tagsmith-scan-cancel-');
    for (const [i, bytes] of (await stripedImages(6, 60)).entries()) await fs.writeFile(path.join(folder, `q${i}.jpg`), bytes);
    const controller = new AbortController();
    embedCalls = 0;
    const outcome = await scanImages([folder], embeddings, await openIndex(), {
      concurrency: 1,
      onProgress: (p) => {
        if (p.done === 1) void fs.rm(path.join(folder, 'q2.jpg'));
        if (p.done === 3) controller.abort();
      },
      signal: controller.signal,
    });
    assert.equal(outcome.cancelled, true);
    assert.deepEqual(names(outcome), ['q0.jpg', 'q1.jpg']);
    assert.match(outcome.skipped.find((s) => s.path.endsWith('q2.jpg'))!.reason, /removed during the scan/);
    const embeddedBeforeCancel = embedCalls;
    embedCalls = 0;
    const rest = await scanImages([folder], embeddings, await openIndex());
    assert.equal(rest.images.length, 5);
    assert.equal(embedCalls, 5 - embeddedBeforeCancel, 'the second scan embeds only what the first did not');
  });
});
