// Scanning folders over HTTP, as a user with a trained tag would: what each tag applies to,
// results in the order asked for, a rescan that embeds nothing, exports a spreadsheet opens,
// XMP keywords previewed, written and undone, a retrain re-scoring the scan, and the engine
// reading nothing outside its --scan-root folders.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TagsmithApiError, type ScanView } from '../../kernel/client/tagsmith-client';
import { sha256 } from '../../kernel/engine/embedder';
import { blobImages, stripedImages, tempDir } from '../helpers/engine';
import { startTestServer, type TestServer } from '../helpers/server';

const TAG = 'stripes';

async function rejectsWith(promise: Promise<unknown>, status: number, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof TagsmithApiError, String(e));
    assert.equal(e.status, status);
    assert.equal(e.code, code);
    if (message) assert.match(e.message, message);
    return true;
  });
}

describe('folder scans over HTTP', { timeout: 300_000 }, () => {
  let server: TestServer;
  let photos: string;
  let outside: string;
  let scan: ScanView;
  const stripedNames = ['s0.jpg', 's1.jpg', 's2.jpg', 'nested/s3.jpg'];
  const blobNames = ['b0.jpg', 'b1.jpg', 'b2.jpg', 'nested/b3.jpg'];
  /** Awaited before the engine embeds an image for a scan: a test that needs a scan still running holds it here. */
  let holdScanEmbed: ((sha256: string) => Promise<void> | undefined) | undefined;

  before(async () => {
    photos = await fs.realpath(await tempDir('tagsmith-scan-photos-'));
    outside = await fs.realpath(await tempDir('tagsmith-scan-outside-'));
    server = await startTestServer({}, undefined, { scanRoots: [photos], hooks: { beforeScanEmbed: (id) => holdScanEmbed?.(id) } });
    const client = server.client;
    for (const bytes of await stripedImages(6)) await client.addSample('positive', TAG, bytes);
    for (const bytes of await blobImages(6)) await client.addSample('negative', TAG, bytes);
    await client.train(TAG);
    // The folder to tag: unseen pictures of both kinds, one of them also a sample, and files that are not photos.
    await fs.mkdir(path.join(photos, 'nested'));
    const [sampleToo] = await stripedImages(1);
    const unseenStriped = await stripedImages(4, 20);
    const unseenBlobs = await blobImages(4, 20);
    for (const [i, name] of stripedNames.entries()) await fs.writeFile(path.join(photos, name), unseenStriped[i]);
    for (const [i, name] of blobNames.entries()) await fs.writeFile(path.join(photos, name), unseenBlobs[i]);
    await fs.writeFile(path.join(photos, 'already-a-sample.jpg'), sampleToo);
    await fs.writeFile(path.join(photos, 'broken.jpg'), 'not a picture');
    await fs.writeFile(path.join(photos, 'notes.txt'), 'ignored: not an image name');
    await fs.writeFile(path.join(outside, 'secret.jpg'), unseenStriped[0]);
    await fs.symlink(outside, path.join(photos, 'link-out'));
    scan = await client.scan([photos]);
  });
  after(() => server?.close());

  it('finishes with what each tag applies to, and names what it skipped', async () => {
    assert.equal(scan.state, 'done');
    assert.equal(scan.result?.images, 9);
    assert.equal(scan.progress.embedded, 8, "the sample's own embedding is reused");
    assert.equal(scan.progress.known, 1);
    const applies = scan.result!.applies[TAG];
    assert.ok(applies >= 4 && applies <= 6, `applies to ${applies} of 9 (5 striped)`);
    const skipped = Object.fromEntries(scan.result!.skipped.map((s) => [path.basename(s.path), s.reason]));
    assert.match(skipped['broken.jpg'], /not an image/i);
    assert.match(skipped['link-out'], /outside the folders this engine may read/);
    assert.equal(skipped['notes.txt'], undefined, 'a non-image name in a folder is not a failure');
    assert.deepEqual(await server.client.scanStatus(scan.scan_id), scan, 'the same view when asked again');
  });

  it("pages results by score, by the model's least sure first without the tag's samples, and by call", async () => {
    const client = server.client;
    const byScore = await client.scanResults(scan.scan_id, { tag: TAG, order: 'score', limit: 4 });
    assert.equal(byScore.total, 9);
    assert.equal(byScore.images.length, 4);
    const top = byScore.images.map((i) => path.basename(i.path));
    assert.ok(top.filter((n) => n.startsWith('s') || n === 'already-a-sample.jpg').length >= 3, `striped pictures score highest: ${top.join(', ')}`);
    const scores = byScore.images.map((i) => i.tags[TAG].score);
    assert.deepEqual(
      scores,
      [...scores].sort((a, b) => b - a),
    );
    const second = await client.scanResults(scan.scan_id, { tag: TAG, order: 'score', offset: 4, limit: 100 });
    assert.equal(second.images.length, 5);
    assert.ok(second.images[0].tags[TAG].score <= scores[3]);

    const review = await client.scanResults(scan.scan_id, { tag: TAG, order: 'informative', limit: 100 });
    assert.equal(review.total, 8, 'the image that already is a sample is not offered for review');
    // The model's least sure first: nearest its boundary (0.5), one above and one below in turn.
    const reviewScores = review.images.map((i) => i.tags[TAG].score);
    const sides = [reviewScores.filter((s) => s >= 0.5), reviewScores.filter((s) => s < 0.5)];
    const turns = 2 * Math.min(sides[0].length, sides[1].length);
    assert.ok(turns >= 2, `images on both sides of the boundary: ${reviewScores.join(', ')}`);
    assert.deepEqual(
      reviewScores.slice(0, turns).map((s) => s >= 0.5),
      Array.from({ length: turns }, (_, k) => k % 2 === 0),
    );
    for (const side of sides) {
      const distances = side.map((s) => Math.abs(Math.log(s / (1 - s))));
      assert.deepEqual(
        distances,
        [...distances].sort((a, b) => a - b),
      );
    }

    const applying = await client.scanResults(scan.scan_id, { tag: TAG, applies: true });
    assert.equal(applying.total, scan.result!.applies[TAG]);
    assert.ok(applying.images.every((i) => i.tags[TAG].applies));
    const marked = await client.scanResults(scan.scan_id, { tag: TAG });
    assert.deepEqual(
      marked.images.filter((i) => i.sample).map((i) => [path.basename(i.path), i.sample]),
      [['already-a-sample.jpg', 'positive']],
    );
  });

  it('rescans an unchanged folder without embedding anything', async () => {
    const again = await server.client.scan([photos]);
    assert.equal(again.progress.embedded, 0);
    assert.equal(again.progress.known, 9);
    assert.deepEqual(again.result?.applies, scan.result?.applies);
  });

  it('exports CSV and JSON Lines with a record per image', async () => {
    const client = server.client;
    const csv = await client.exportScan(scan.scan_id, 'csv');
    const lines = csv.trimEnd().split('\r\n');
    assert.deepEqual(lines[0].split(',').slice(0, 5), ['path', 'sha256', `${TAG}.score`, `${TAG}.threshold`, `${TAG}.applies`]);
    assert.equal(lines.length, 10);
    const jsonl = (await client.exportScan(scan.scan_id, 'jsonl', { appliesOnly: true }))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { path: string; tags: Record<string, { applies: boolean }> });
    assert.equal(jsonl.length, scan.result!.applies[TAG]);
    assert.ok(jsonl.every((r) => r.tags[TAG].applies && path.isAbsolute(r.path)));
    await rejectsWith(client.exportScan(scan.scan_id, 'xml' as 'csv'), 400, 'invalid_option');
  });

  it('previews XMP keywords without writing, writes them, and takes out exactly its own', async () => {
    const client = server.client;
    const sidecars = async () => (await fs.readdir(photos, { recursive: true })).filter((f) => f.endsWith('.xmp')).sort();
    const preview = await client.scanSidecars(scan.scan_id, { action: 'preview' });
    assert.equal(preview.written, false);
    assert.equal(preview.changes.length, scan.result!.applies[TAG]);
    assert.ok(preview.changes.every((c) => c.creates && c.add.join() === TAG));
    assert.deepEqual(await sidecars(), []);

    const written = await client.scanSidecars(scan.scan_id, { action: 'write' });
    assert.equal(written.written, true);
    assert.deepEqual(await sidecars(), written.changes.map((c) => path.relative(photos, c.sidecar)).sort());
    assert.equal((await client.scanSidecars(scan.scan_id, { action: 'preview' })).changes.length, 0, 'written once, nothing left to add');

    const removed = await client.scanSidecars(scan.scan_id, { action: 'remove' });
    assert.equal(removed.changes.length, written.changes.length);
    assert.deepEqual(await sidecars(), [], 'sidecars Tagsmith made are gone again');
    await rejectsWith(client.scanSidecars(scan.scan_id, { action: 'erase' as 'remove' }), 400, 'invalid_option');
  });

  it('re-scores the scan when the tag is trained again, and says which calls changed', async () => {
    const client = server.client;
    // The user decides the tag means the opposite: every sample moved to the other side.
    const before = await client.scanResults(scan.scan_id, { tag: TAG, limit: 100 });
    const { positives, negatives } = await client.samples(TAG);
    for (const s of positives) await client.moveSample(TAG, s.id, 'negative');
    for (const s of negatives) await client.moveSample(TAG, s.id, 'positive');
    await client.train(TAG);
    const after = await client.scanStatus(scan.scan_id);
    const changed = after.result!.changedCalls[TAG];
    assert.ok(changed >= 1, `calls changed: ${changed}`);
    const page = await client.scanResults(scan.scan_id, { tag: TAG, limit: 100 });
    const flipped = page.images.filter((i, n) => i.tags[TAG].applies !== before.images[n].tags[TAG].applies);
    assert.ok(flipped.length >= 6, `most calls flip: ${flipped.length} of 9`);
    assert.equal(changed, flipped.length);
    assert.deepEqual(
      page.images.filter((i) => i.changed).map((i) => i.index),
      flipped.map((i) => i.index),
    );
    assert.equal(page.images.find((i) => i.sample)?.sample, 'negative', 'the sample in the scan moved too');
  });

  it('reads nothing outside its --scan-root folders, and only absolute paths', async () => {
    const client = server.client;
    await rejectsWith(Promise.resolve(client.scan([outside])), 403, 'forbidden', /outside the folders this engine may read/);
    await rejectsWith(Promise.resolve(client.scan([path.join(photos, 'link-out', 'secret.jpg')])), 403, 'forbidden');
    await rejectsWith(Promise.resolve(client.scan(['photos'])), 400, 'invalid_option', /absolute path/);
    await rejectsWith(Promise.resolve(client.scan([])), 400, 'invalid_option');
    await rejectsWith(client.scanResults('s-nope-00000000'), 404, 'unknown_scan');
    await rejectsWith(client.scanResults('../../etc'), 404, 'unknown_scan');
  });

  it('cancels a running scan and keeps what it embedded', async () => {
    const client = server.client;
    const many = path.join(photos, 'many');
    await fs.mkdir(many);
    const pictures = await blobImages(12, 60);
    for (const [i, bytes] of pictures.entries()) await fs.writeFile(path.join(many, `m${String(i).padStart(2, '0')}.jpg`), bytes);
    // The first file is embedded; the others wait until the cancel has been answered, so the
    // scan is still running when it arrives however fast the machine is.
    let release!: () => void;
    const cancelAnswered = new Promise<void>((resolve) => (release = resolve));
    const first = sha256(pictures[0]);
    holdScanEmbed = (id) => (id === first ? undefined : cancelAnswered);
    const task = client.scan([many]);
    let cancelled = false;
    task.onProgress((view) => {
      if (!cancelled && view.progress.done >= 1) {
        cancelled = true;
        void task.cancel().finally(release);
      }
    });
    const stopped = await Promise.resolve(task).finally(() => {
      release();
      holdScanEmbed = undefined;
    });
    assert.equal(stopped.state, 'cancelled');
    assert.ok(stopped.result!.images < 12, `stopped after ${stopped.result!.images}`);
    const rest = await client.scan([many]);
    assert.equal(rest.state, 'done');
    assert.equal(rest.progress.known + rest.progress.embedded, 12);
    assert.ok(rest.progress.known >= stopped.result!.images, 'what the cancelled scan embedded was kept');
  });

  it('clears the feature cache on request; the next scan embeds again', async () => {
    const cleared = await server.client.clearFeatureCache();
    assert.ok(cleared.entries >= 8);
    const again = await server.client.scan([path.join(photos, 'many')]);
    assert.equal(again.progress.embedded, 12);
  });
});

describe('an engine started without --scan-root', () => {
  it('scans nothing, and says how to allow a folder', async () => {
    const server = await startTestServer({}, undefined, { scanRoots: [] });
    try {
      await rejectsWith(Promise.resolve(server.client.scan(['/tmp'])), 403, 'forbidden', /--scan-root/);
    } finally {
      await server.close();
    }
  });
});
