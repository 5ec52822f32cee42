// The scan task over HTTP on an engine started with --redis: `tagsmith serve --redis URL
// --state-archive FILE` hands POST /scans to the `tagsmith worker`s of that archive, and the scan
// is the same task as a local one: progress, cancel, and pages of results equal (to 1e-6) to the
// same engine's scan of the same folder without --redis, through the same API; a tag trained
// with apply_keywords gets its keywords from the workers.
// Needs: /usr/bin/redis-server (Debian's redis-server; .ci/run installs it).
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import type { ScanPage, ScanView } from '../../kernel/api/wire-types';
import { TagsmithClient } from '../../kernel/client/tagsmith-client';
import { queueName } from '../../kernel/cluster/scan-jobs';
import { sha256File } from '../../kernel/state/archive-file';
import { startCliServer, type CliServer } from '../helpers/cli-server';
import { tempDir } from '../helpers/engine';
import { needsKeywordsModel } from '../helpers/keyword-photos';
import { startRedis, type TestRedis } from '../helpers/redis-server';
import { KEYWORD_TAG, keywordArchive, photoFolder, startWorker, TAG, trainedArchive, until, type WorkerProcess } from '../helpers/scan-cluster';

const PHOTOS = 24;
const BACKBONE = 'mobilenet_v2_140_int8_flip320';

/** Every image of a finished scan, in walk order. */
async function allImages(client: TagsmithClient, scanId: string): Promise<ScanPage['images']> {
  const images: ScanPage['images'] = [];
  for (let offset = 0; ; offset += 10) {
    const page = await client.scanResults(scanId, { offset, limit: 10 });
    images.push(...page.images);
    if (offset + 10 >= page.total) return images;
  }
}

/** Two scans' images: the same files in the same order, every score within 1e-6, the same calls. */
function assertSameImages(actual: ScanPage['images'], expected: ScanPage['images']): void {
  assert.deepEqual(
    actual.map((i) => [i.index, i.path, i.sha256, i.width, i.height]),
    expected.map((i) => [i.index, i.path, i.sha256, i.width, i.height]),
  );
  actual.forEach((image, i) => {
    const want = expected[i];
    assert.deepEqual(Object.keys(image.tags), Object.keys(want.tags), image.path);
    for (const [tag, call] of Object.entries(want.tags)) {
      assert.ok(Math.abs(image.tags[tag].score - call.score) <= 1e-6, `${image.path} ${tag}: ${image.tags[tag].score} vs ${call.score}`);
      assert.equal(image.tags[tag].applies, call.applies, `${image.path} ${tag}`);
    }
    assert.ok(Math.abs(image.aesthetic - want.aesthetic) <= 1e-6 && Math.abs(image.stock - want.stock) <= 1e-6, image.path);
    for (const [label, p] of Object.entries(want.nsfw)) assert.ok(Math.abs(image.nsfw[label] - p) <= 1e-6, `${image.path} nsfw.${label}`);
    assert.deepEqual(Object.keys(image.keywords ?? {}).sort(), Object.keys(want.keywords ?? {}).sort(), image.path);
  });
}

describe('POST /scans on an engine started with --redis', { timeout: 900_000 }, () => {
  let redis: TestRedis;
  let work: string;
  let photos: string;
  const workers: WorkerProcess[] = [];
  const servers: CliServer[] = [];
  let caches = 0;
  const startWorkers = async (archive: string, count: number) => {
    for (let i = 0; i < count; i++) workers.push(await startWorker(redis.url, archive, path.join(work, `cache-${caches++}`)));
  };
  const serve = async (stateDir: string, extra: string[]) => {
    const server = await startCliServer(['--scan-root', work, ...extra], stateDir);
    servers.push(server);
    return { server, client: new TagsmithClient({ url: server.url }) };
  };
  const stopAll = async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  };

  before(async () => {
    redis = await startRedis();
    work = await tempDir('tagsmith-engine-redis-');
    photos = path.join(work, 'photos');
    await photoFolder(photos, PHOTOS);
  });
  afterEach(stopAll);
  after(async () => {
    await stopAll();
    await redis?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it("gives a local scan's task and results, the images embedded by two workers", async () => {
    const trained = await trainedArchive(work);
    await startWorkers(trained.archive, 2);
    const { server, client } = await serve(trained.stateDir, ['--redis', redis.url, '--state-archive', trained.archive, '--batch', '3']);
    assert.match(server.output(), /scans by the workers of tagsmith-scan\.\S+ at redis:\/\/127\.0\.0\.1:\d+/);
    const seen: ScanView[] = [];
    const task = client.scan([photos]).onProgress((view) => seen.push(view));
    const done = await task;
    assert.equal(done.state, 'done', JSON.stringify(done.error));
    assert.deepEqual(done.progress.total, PHOTOS + 1);
    assert.equal(done.result!.images, PHOTOS);
    assert.deepEqual(
      done.result!.skipped.map((s) => path.relative(photos, s.path)),
      ['b/broken.jpg'],
    );
    assert.match(done.result!.skipped[0].reason, /not an image/i);
    assert.equal(done.progress.embedded, PHOTOS, 'the workers embedded every image');
    assert.ok(
      seen.some((v) => v.state === 'running' && v.progress.done > 0 && v.progress.done < v.progress.total),
      `progress while it ran: ${JSON.stringify(seen.map((v) => v.progress.done))}`,
    );
    const embeddedBy = workers.map((w) => [...w.output().matchAll(/: \d+ images \((\d+) embedded/g)].reduce((n, m) => n + Number(m[1]), 0));
    assert.equal(
      embeddedBy.reduce((a, b) => a + b),
      PHOTOS,
    );
    assert.ok(
      embeddedBy.every((n) => n > 0),
      `both workers took batches: ${embeddedBy.join(', ')}`,
    );
    const distributed = await allImages(client, done.scan_id);
    const distributedByScore = (await client.scanResults(done.scan_id, { tag: TAG, order: 'score', limit: 1000 })).images.map((i) => i.path);
    // The feature matrix came back too: "more like this" searches the scan.
    const similar = await client.similar({ scanId: done.scan_id, index: 0 }, 3);
    assert.equal(similar.images.length, 3);
    const queue = new Queue(queueName(await sha256File(trained.archive), BACKBONE), { connection: { url: redis.url } });
    try {
      assert.deepEqual(await queue.getJobCounts('wait', 'active', 'completed', 'failed', 'delayed'), {
        wait: 0,
        active: 0,
        completed: 0,
        failed: 0,
        delayed: 0,
      });
    } finally {
      await queue.close();
    }
    await stopAll();

    // The same engine without --redis scans the folder itself.
    const local = await serve(trained.stateDir, []);
    const localScan = await local.client.scan([photos]);
    assert.equal(localScan.state, 'done');
    assert.equal(localScan.result!.images, PHOTOS);
    assert.deepEqual(done.result!.applies, localScan.result!.applies);
    assertSameImages(distributed, await allImages(local.client, localScan.scan_id));
    const localByScore = (await local.client.scanResults(localScan.scan_id, { tag: TAG, order: 'score', limit: 1000 })).images.map((i) => i.path);
    assert.deepEqual(distributedByScore, localByScore, 'sorted by the tag, the same order');
  });

  it('cancels a scan: its batches waiting in Redis are taken out, and the next scan runs', async () => {
    const trained = await trainedArchive(path.join(work, 'cancel'));
    const { client } = await serve(trained.stateDir, ['--redis', redis.url, '--state-archive', trained.archive, '--batch', '2']);
    const queue = new Queue(queueName(await sha256File(trained.archive), BACKBONE), { connection: { url: redis.url } });
    try {
      // No worker yet: the batches wait in Redis.
      const task = client.scan([photos]);
      const scanId = await task.scanId;
      await until(
        async () => (await queue.getWaitingCount()) > 0,
        60_000,
        () => 'no batch reached Redis',
      );
      assert.equal((await client.scanStatus(scanId)).state, 'running');
      await client.cancelScan(scanId);
      const cancelled = await task;
      assert.equal(cancelled.state, 'cancelled');
      assert.equal(cancelled.result?.images, 0);
      await until(
        async () => (await queue.getWaitingCount()) === 0,
        10_000,
        () => 'the cancelled batches are still in Redis',
      );
      await startWorkers(trained.archive, 1);
      const next = await client.scan([path.join(photos, 'a')]);
      assert.equal(next.state, 'done');
      assert.equal(next.result!.images, PHOTOS / 3);
    } finally {
      await queue.close();
    }
  });

  it('refuses to start without the archive the workers loaded', async () => {
    await assert.rejects(startCliServer(['--redis', redis.url], path.join(work, 'no-archive')), /--redis needs --state-archive FILE/);
    await assert.rejects(
      startCliServer(['--redis', redis.url, '--state-archive', path.join(work, 'missing.tar')], path.join(work, 'no-archive')),
      /tagsmith serve exited with 2: .*missing\.tar/s,
    );
  });

  it('a tag trained with apply_keywords gets its keywords from the workers, scored as a local scan scores it', needsKeywordsModel, async () => {
    const trained = await keywordArchive(path.join(work, 'keywords'));
    await startWorkers(trained.archive, 2);
    const { client } = await serve(trained.stateDir, ['--redis', redis.url, '--state-archive', trained.archive, '--batch', '2']);
    const scan = await client.scan([trained.photos]);
    assert.equal(scan.state, 'done', JSON.stringify(scan.error));
    assert.equal(scan.keywords, true, 'the tag needs keywords: the scan found them');
    const distributed = await allImages(client, scan.scan_id);
    assert.deepEqual(
      distributed.map((i) => i.tags[KEYWORD_TAG].applies),
      [true, true, true, false, false, false],
    );
    assert.ok(distributed[0].keywords?.person, JSON.stringify(distributed[0].keywords));
    await stopAll();
    const local = await serve(trained.stateDir, []);
    const localScan = await local.client.scan([trained.photos]);
    assertSameImages(distributed, await allImages(local.client, localScan.scan_id));
  });
});
