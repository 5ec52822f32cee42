// Improving a tag where it is wrong, over HTTP: the review queue of a scan (the model's least
// certain images first, both sides of its boundary in turn, samples left out), its counter of reviews since training, the calls that
// change after training again, and "more like this" from a scanned image, a sample or a file.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TagsmithApiError, type ScanView } from '../../kernel/client/tagsmith-client';
import { blobImages, stripedImages, tempDir } from '../helpers/engine';
import { startTestServer, type TestServer } from '../helpers/server';

const TAG = 'stripes';

describe('the review queue and more like this', { timeout: 300_000 }, () => {
  let server: TestServer;
  let photos: string;
  let scan: ScanView;
  let stripedCopy: Buffer;

  before(async () => {
    photos = await fs.realpath(await tempDir('tagsmith-review-'));
    server = await startTestServer({}, undefined, { scanRoots: [photos] });
    const client = server.client;
    for (const bytes of await stripedImages(4)) await client.addSample('positive', TAG, bytes);
    for (const bytes of await blobImages(4)) await client.addSample('negative', TAG, bytes);
    await client.train(TAG);
    const striped = await stripedImages(6, 40);
    const blobs = await blobImages(6, 40);
    for (const [i, bytes] of striped.entries()) await fs.writeFile(path.join(photos, `s${i}.jpg`), bytes);
    for (const [i, bytes] of blobs.entries()) await fs.writeFile(path.join(photos, `b${i}.jpg`), bytes);
    stripedCopy = striped[2];
    scan = await client.scan([photos]);
  });
  after(() => server?.close());

  it("offers the model's least sure images first, from each side of its boundary in turn, and the tag's calls either way", async () => {
    const client = server.client;
    const queue = await client.reviewQueue(TAG, { limit: 5 });
    assert.equal(queue.scan_id, scan.scan_id, 'the newest scan by default');
    assert.equal(queue.total, 12);
    assert.equal(queue.images.length, 5);
    assert.equal(queue.reviewedSinceTraining, 0);
    assert.equal(queue.rerankedSinceTraining, false, "ranked by the trained model's scores");
    const logit = (p: number) => Math.log(p / (1 - p));
    const nearestFirst = (distances: number[]) =>
      assert.deepEqual(
        distances,
        [...distances].sort((a, b) => a - b),
      );
    const whole = (await client.reviewQueue(TAG, { limit: 100 })).images;
    assert.deepEqual(
      queue.images.map((i) => i.index),
      whole.slice(0, 5).map((i) => i.index),
    );
    const scores = whole.map((i) => i.tags[TAG].score);
    const above = scores.filter((s) => s >= 0.5);
    const below = scores.filter((s) => s < 0.5);
    const turns = 2 * Math.min(above.length, below.length);
    assert.ok(turns >= 2, `the scan has images on both sides of the boundary: ${scores.join(', ')}`);
    assert.deepEqual(
      scores.slice(0, turns).map((s) => s >= 0.5),
      Array.from({ length: turns }, (_, k) => k % 2 === 0),
      'one above the boundary, one below, while both sides last',
    );
    nearestFirst(above.map((s) => Math.abs(logit(s))));
    nearestFirst(below.map((s) => Math.abs(logit(s))));

    const threshold = queue.images[0].tags[TAG].threshold;
    const applies = await client.reviewQueue(TAG, { view: 'applies', limit: 100 });
    const rejects = await client.reviewQueue(TAG, { view: 'not-applies', limit: 100 });
    assert.equal(applies.total + rejects.total, 12);
    assert.ok(applies.images.every((i) => i.tags[TAG].applies) && rejects.images.every((i) => !i.tags[TAG].applies));
    for (const view of [applies, rejects]) nearestFirst(view.images.map((i) => Math.abs(logit(i.tags[TAG].score) - logit(threshold))));
  });

  it('counts the reviews since training, leaves reviewed images out, and reports the calls a retrain changed', async () => {
    const client = server.client;
    const queue = await client.reviewQueue(TAG, { limit: 4 });
    // Each decision as the panel makes it: the image added as a sample of the kind the reviewer says.
    for (const image of queue.images)
      await client.addSample(path.basename(image.path).startsWith('s') ? 'positive' : 'negative', TAG, await fs.readFile(image.path));
    const after = await client.reviewQueue(TAG, { limit: 100 });
    assert.equal(after.reviewedSinceTraining, 4);
    assert.equal(after.rerankedSinceTraining, true, 'the queue follows the decisions before any training');
    // Ranked by what the tag says with the decisions (reviewScore), not by its trained calls: the
    // least sure under that first, from the side the tag has fewer labels of (4 + 2 each: above), in turn.
    const logit = (p: number) => Math.log(p / (1 - p));
    const now = after.images.map((i) => i.reviewScore!);
    assert.ok(
      now.every((s) => typeof s === 'number' && s > 0 && s < 1),
      'every image has the score it is ranked by',
    );
    // In log-odds: these pictures are told apart with confidence, so the moves are near 0 and 1.
    assert.ok(
      after.images.some((i) => Math.abs(logit(i.reviewScore!) - logit(i.tags[TAG].score)) > 0.1),
      'the decisions moved some scores: ' + after.images.map((i) => `${i.tags[TAG].score.toFixed(4)}->${i.reviewScore!.toFixed(4)}`).join(' '),
    );
    const turns = 2 * Math.min(now.filter((s) => s >= 0.5).length, now.filter((s) => s < 0.5).length);
    assert.deepEqual(
      now.slice(0, turns).map((s) => s >= 0.5),
      Array.from({ length: turns }, (_, k) => k % 2 === 0),
    );
    for (const side of [now.filter((s) => s >= 0.5), now.filter((s) => s < 0.5)])
      assert.deepEqual(
        side.map((s) => Math.abs(logit(s))),
        side.map((s) => Math.abs(logit(s))).sort((a, b) => a - b),
      );
    assert.equal(after.total, 8, 'reviewed images are samples now, and left out');
    assert.ok(after.images.every((i) => !queue.images.some((q) => q.index === i.index)));
    await client.train(TAG);
    const retrained = await client.reviewQueue(TAG, { limit: 100 });
    assert.equal(retrained.reviewedSinceTraining, 0, 'the counter starts again after training');
    assert.equal(retrained.rerankedSinceTraining, false);
    assert.ok(
      retrained.images.every((i) => i.reviewScore === undefined),
      'after training the calls rank it again',
    );
    const changedNow = (await client.scanResults(scan.scan_id, { tag: TAG, limit: 100 })).images.filter((i) => i.changed).length;
    assert.equal(retrained.changedCalls, changedNow);
  });

  it('still offers the queue of a trained tag whose samples were all removed since', async () => {
    const client = server.client;
    for (const bytes of await stripedImages(2, 70)) await client.addSample('positive', 'emptied', bytes);
    for (const bytes of await blobImages(2, 70)) await client.addSample('negative', 'emptied', bytes);
    await client.train('emptied');
    const { positives, negatives } = await client.samples('emptied');
    for (const s of [...positives, ...negatives]) await client.removeSample('emptied', s.id);
    const queue = await client.reviewQueue('emptied', { limit: 100 });
    assert.equal(queue.total, 12, "every scanned image, by the trained model's calls");
    assert.equal(queue.rerankedSinceTraining, false);
  });

  it('finds more like a scanned image, a sample, or a file: the same picture first', async () => {
    const client = server.client;
    const page = await client.scanResults(scan.scan_id, { limit: 100 });
    const s2 = page.images.find((i) => path.basename(i.path) === 's2.jpg')!;
    const fromScan = await client.similar({ scanId: scan.scan_id, index: s2.index }, 5);
    assert.equal(fromScan.images.length, 5);
    assert.ok(
      fromScan.images.every((i) => i.index !== s2.index),
      'not itself',
    );
    assert.ok(
      fromScan.images.filter((i) => path.basename(i.path).startsWith('s')).length >= 3,
      `mostly striped: ${fromScan.images.map((i) => path.basename(i.path)).join(', ')}`,
    );
    const sims = fromScan.images.map((i) => i.similarity);
    assert.deepEqual(
      sims,
      [...sims].sort((a, b) => b - a),
    );
    assert.ok(fromScan.samples.length > 0 && fromScan.samples[0].tags.some((t) => t.tag === TAG));

    const fromFile = await client.similar({ image: stripedCopy }, 3);
    assert.equal(path.basename(fromFile.images[0].path), 's2.jpg');
    assert.ok(fromFile.images[0].similarity > 0.999);

    const { positives } = await client.samples(TAG);
    const fromSample = await client.similar({ sampleId: positives[0].id }, 3);
    assert.ok(
      fromSample.samples.every((s) => s.id !== positives[0].id),
      'not itself',
    );
    assert.equal(fromSample.scan_id, scan.scan_id);
  });

  it('refuses what cannot be reviewed, with the error contract', async () => {
    const client = server.client;
    await assert.rejects(client.reviewQueue('nothing-here'), (e: unknown) => e instanceof TagsmithApiError && e.status === 404 && e.code === 'unknown_tag');
    await assert.rejects(client.reviewQueue(TAG, { view: 'sideways' as 'applies' }), (e: unknown) => e instanceof TagsmithApiError && e.status === 400);
    await assert.rejects(client.similar({ scanId: scan.scan_id, index: 999 }), (e: unknown) => e instanceof TagsmithApiError && e.status === 404);
    await assert.rejects(client.similar({ sampleId: '../../etc/passwd' }), (e: unknown) => e instanceof TagsmithApiError && e.status === 404);
  });
});

describe('suspicious samples', { timeout: 300_000 }, () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server?.close());

  it('flags labels the held-out model contradicts and near-duplicates across labels, most suspicious first', async () => {
    const client = server.client;
    const striped = await stripedImages(10);
    const blobs = await blobImages(10);
    // Two deliberate mistakes: a striped picture called negative, a blob called positive.
    for (const bytes of striped.slice(0, 9)) await client.addSample('positive', TAG, bytes);
    for (const bytes of blobs.slice(0, 9)) await client.addSample('negative', TAG, bytes);
    const wrongNegative = await client.addSample('negative', TAG, striped[9]);
    const wrongPositive = await client.addSample('positive', TAG, blobs[9]);
    // And one picture on both sides: a copy, re-encoded, as the other kind.
    const sharp = (await import('sharp')).default;
    const recoded = await sharp(striped[3]).jpeg({ quality: 60 }).toBuffer();
    const duplicate = await client.addSample('negative', TAG, recoded);
    await client.train(TAG);

    const listing = await client.samples(TAG, { order: 'suspicious' });
    const flagged = [...listing.positives, ...listing.negatives].filter((s) => s.suspicion);
    assert.equal(listing.suspicious, flagged.length);
    const ids = new Set(flagged.map((s) => s.id));
    for (const id of [wrongNegative.sample.id, wrongPositive.sample.id, duplicate.sample.id]) assert.ok(ids.has(id), `flagged: ${id.slice(0, 8)}`);
    assert.ok(flagged.length <= 4, `few false alarms: ${flagged.length} flagged of 21: ${JSON.stringify(flagged.map((s) => [s.type, s.suspicion]))}`);
    const dup = flagged.find((s) => s.id === duplicate.sample.id)!;
    assert.ok(
      listing.positives.some((s) => s.id === dup.suspicion?.duplicateOf),
      'the copy points at a positive it nearly is',
    );
    const wrong = flagged.find((s) => s.id === wrongNegative.sample.id)!;
    assert.ok((wrong.suspicion!.disagreement! > 0.5 && wrong.suspicion!.heldOutScore! >= 0.5 - 1e-9) || wrong.suspicion!.duplicateOf !== undefined);
    // Most suspicious first, within each side.
    const rank = (s: (typeof flagged)[number]) => Math.max(s.suspicion?.disagreement ?? 0, s.suspicion?.duplicateOf ? 1 : 0);
    for (const side of [listing.positives, listing.negatives]) {
      const ranks = side.map((s) => (s.suspicion ? rank(s) : -1));
      assert.deepEqual(
        ranks,
        [...ranks].sort((a, b) => b - a),
      );
    }
  });
});
