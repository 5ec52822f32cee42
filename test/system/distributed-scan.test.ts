// Scans past one machine, on one machine: a private redis-server on a loopback port, a
// coordinator (`tagsmith predict --redis`) and `tagsmith worker`s as child processes, over a
// folder of generated photos. The records must be the local scan's (`tagsmith predict --state`)
// to 1e-6, each image once, through every fault: a worker SIGKILLed mid-batch, a worker
// restarted, Redis restarted empty, Redis gone for good (then a resume), the coordinator killed
// (then a resume). A worker never scores a batch of another archive.
// Needs: /usr/bin/redis-server (Debian's redis-server; .ci/run installs it).
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { queueName } from '../../kernel/cluster/scan-jobs';
import { sha256File } from '../../kernel/state/archive-file';
import { tempDir } from '../helpers/engine';
import { startRedis, type TestRedis } from '../helpers/redis-server';
import { needsKeywordsModel } from '../helpers/keyword-photos';
import {
  assertSameRecords,
  jsonLines,
  KEYWORD_TAG,
  keywordArchive,
  photoFolder,
  startWorker,
  tagsmith,
  trainedArchive,
  until,
  type WorkerProcess,
} from '../helpers/scan-cluster';

const PHOTOS = 36;

describe('distributed scans over BullMQ', { timeout: 900_000 }, () => {
  let redis: TestRedis;
  let work: string;
  let archive: string;
  let queue: Queue;
  let local: string;
  const workers: WorkerProcess[] = [];
  let caches = 0;
  const freshCache = () => path.join(work, `cache-${caches++}`);
  const worker = async (extra: string[] = []) => {
    const started = await startWorker(redis.url, archive, freshCache(), extra);
    workers.push(started);
    return started;
  };
  const stopWorkers = async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
  };
  const predict = (args: string[]) => tagsmith(['predict', '--redis', redis.url, '--runs-dir', 'runs', ...args], { cwd: work });
  const runIdOf = async (cli: ReturnType<typeof tagsmith>) => {
    await until(
      () => /run (r-[0-9a-z]+-[0-9a-f]{8})/.test(cli.stderr()),
      60_000,
      () => cli.output(),
      cli.exited,
    );
    return /run (r-[0-9a-z]+-[0-9a-f]{8})/.exec(cli.stderr())![1];
  };
  const answeredBatches = async (runId: string) => (await fs.readdir(path.join(work, 'runs', runId, 'batches')).catch(() => [])).length;

  before(async () => {
    redis = await startRedis();
    work = await tempDir('tagsmith-distributed-');
    const trained = await trainedArchive(work);
    archive = trained.archive;
    await photoFolder(path.join(work, 'photos'), PHOTOS);
    const scan = tagsmith(['predict', '--state', trained.stateDir, 'photos'], { cwd: work });
    assert.equal(await scan.exited, 1, 'the broken file is named');
    local = scan.stdout();
    assert.equal(jsonLines(local).length, PHOTOS);
    queue = new Queue(queueName(await sha256File(archive), 'mobilenet_v2_140_int8_flip320'), { connection: { url: redis.url } });
    queue.on('error', () => undefined); // Redis stopped on purpose below: the test's own look at the queue waits for it
  });
  // A test that fails part way leaves neither its workers nor Redis stopped for the next.
  afterEach(async () => {
    await stopWorkers();
    await redis.start();
  });
  after(async () => {
    await stopWorkers();
    await queue?.close();
    await redis?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it("writes the local scan's records with two workers, and leaves nothing behind in Redis or the runs folder", async () => {
    const kept = await worker();
    await worker();
    const run = predict(['--state-archive', 'backup.tar', '--batch', '4', 'photos']);
    assert.equal(await run.exited, 1, run.stderr());
    assertSameRecords(run.stdout(), local);
    assert.match(run.stderr(), /tagsmith: photos\/b\/broken\.jpg: .*not an image/);
    assert.match(run.stderr(), new RegExp(`${PHOTOS} images \\(${PHOTOS} embedded, 0 from the cache\\), 1 skipped`));
    assert.deepEqual(await fs.readdir(path.join(work, 'runs')), [], "the finished run's ledger is removed");
    const counts = await queue.getJobCounts('wait', 'active', 'completed', 'failed', 'delayed');
    assert.deepEqual(counts, { wait: 0, active: 0, completed: 0, failed: 0, delayed: 0 }, 'each answer is removed from Redis once collected');

    // Each worker keeps its own cache: with one of them left, the images it embedded come from
    // its cache and only the others' are embedded again.
    const seen = [...kept.output().matchAll(/: \d+ images \((\d+) embedded/g)].reduce((n, m) => n + Number(m[1]), 0);
    assert.ok(seen > 0 && seen < PHOTOS, `both workers took batches: ${kept.output()}`);
    await workers.pop()!.stop();
    const csv = predict(['--state-archive', 'backup.tar', '--format', 'csv', '--applies-only', 'photos']);
    assert.equal(await csv.exited, 1);
    const rows = csv.stdout().trimEnd().split('\r\n');
    assert.equal(rows[0].split(',').slice(0, 5).join(','), 'path,sha256,stripes.score,stripes.threshold,stripes.applies');
    assert.deepEqual(
      rows.slice(1).map((r) => r.split(',')[0]),
      jsonLines(local)
        .filter((r) => r.tags.stripes.applies)
        .map((r) => r.path),
    );
    assert.match(csv.stderr(), new RegExp(`${PHOTOS} images \\(${PHOTOS - seen} embedded, ${seen} from the cache\\)`), "the worker's feature cache");
    // Now it has seen them all: nothing is embedded again.
    const again = predict(['--state-archive', 'backup.tar', 'photos']);
    assert.equal(await again.exited, 1);
    assertSameRecords(again.stdout(), local);
    assert.match(again.stderr(), new RegExp(`${PHOTOS} images \\(0 embedded, ${PHOTOS} from the cache\\)`));
  });

  it('loses and counts twice nothing when a worker is SIGKILLed mid-batch, and a restarted worker joins in', async () => {
    const doomed = await worker(['--lock-seconds', '2']);
    const survivor = await worker(['--lock-seconds', '2']);
    // Batches of 12 take seconds on one thread: the kill lands well inside one.
    const run = predict(['--state-archive', 'backup.tar', '--batch', '12', 'photos']);
    const runId = await runIdOf(run);
    // A batch under way on the doomed worker, part done.
    let killedJob = '';
    await until(
      async () => {
        for (const job of await queue.getActive()) {
          const progress = job.progress as { done?: number; total?: number };
          if (job.processedBy?.endsWith(`:${doomed.pid}`) && (progress.done ?? 0) > 0 && progress.done! < progress.total!) {
            killedJob = job.id!;
            return true;
          }
        }
        return false;
      },
      60_000,
      () => `no batch seen part done on the doomed worker: ${run.output()}`,
      run.exited,
    );
    await doomed.kill();
    const restarted = await worker(['--lock-seconds', '2']);
    assert.equal(await run.exited, 1, run.stderr());
    assertSameRecords(run.stdout(), local);
    assert.ok(killedJob.startsWith(runId));
    const finished = (w: WorkerProcess) => new RegExp(`${killedJob.replace('.', '\\.')}: \\d+ images`).test(w.output());
    assert.ok(!finished(doomed), `the doomed worker was killed before it finished ${killedJob}: ${doomed.output()}`);
    assert.ok(finished(survivor) || finished(restarted), `the killed batch was done again by another worker: ${survivor.output()}${restarted.output()}`);
    await stopWorkers();
  });

  it('queues again what a restarted Redis lost, and finishes the run', async () => {
    await worker();
    await worker();
    const run = predict(['--state-archive', 'backup.tar', '--batch', '3', 'photos']);
    const runId = await runIdOf(run);
    await until(
      async () => (await answeredBatches(runId)) >= 1,
      60_000,
      () => run.output(),
      run.exited,
    );
    await redis.stop();
    await redis.start(); // empty: nothing was saved
    assert.equal(await run.exited, 1, run.stderr());
    assertSameRecords(run.stdout(), local);
    assert.match(run.stderr(), /no longer in Redis \(restarted without its data\?\): queued again/);
    assert.match(run.stderr(), /batches were lost by Redis and done again/);
    await stopWorkers();
  });

  it('stops with a clear error when Redis stays away, and --resume finishes the run once it is back', async () => {
    await worker();
    await worker();
    const run = predict(['--state-archive', 'backup.tar', '--batch', '3', '--redis-timeout', '3', 'photos']);
    const runId = await runIdOf(run);
    await until(
      async () => (await answeredBatches(runId)) >= 1,
      60_000,
      () => run.output(),
      run.exited,
    );
    await redis.stop();
    assert.equal(await run.exited, 1, run.stderr());
    assert.match(
      run.stderr(),
      new RegExp(`Redis at redis://127\\.0\\.0\\.1:${redis.port}/? has not answered for \\d+ s .* resume with --resume ${runId} once Redis is back`),
    );
    const partial = jsonLines(run.stdout());
    assert.ok(partial.length < PHOTOS, 'stopped part way');
    await redis.start();
    const resumed = predict(['--resume', runId]);
    assert.equal(await resumed.exited, 1, resumed.stderr());
    assertSameRecords(resumed.stdout(), local);
    await stopWorkers();
  });

  it('resumes a run whose coordinator was killed, printing the whole output again', async () => {
    await worker();
    await worker();
    const run = predict(['--state-archive', 'backup.tar', '--batch', '3', 'photos']);
    const runId = await runIdOf(run);
    await until(
      async () => (await answeredBatches(runId)) >= 2,
      60_000,
      () => run.output(),
      run.exited,
    );
    run.process.kill('SIGKILL');
    await run.exited;
    await fs.stat(path.join(work, 'runs', runId, 'run.json')); // the ledger survives the coordinator
    const wrongArchive = predict(['--resume', runId, '--state-archive', path.join(work, 'state', 'CURRENT')]);
    assert.equal(await wrongArchive.exited, 2);
    assert.match(wrongArchive.stderr(), /never mixes two models/);
    const resumed = predict(['--resume', runId, '--state-archive', 'backup.tar']);
    assert.equal(await resumed.exited, 1, resumed.stderr());
    assertSameRecords(resumed.stdout(), local);
    assert.deepEqual(await fs.readdir(path.join(work, 'runs')), []);
    await stopWorkers();
  });

  it('scores a tag trained with apply_keywords as a local scan does, keywords found by the workers', needsKeywordsModel, async () => {
    const trained = await keywordArchive(work);
    const scan = tagsmith(['predict', '--state', trained.stateDir, 'keyword-photos'], { cwd: work });
    assert.equal(await scan.exited, 0, scan.stderr());
    const localKeywords = scan.stdout();
    const calls = jsonLines(localKeywords).map((r) => r.tags[KEYWORD_TAG].applies);
    assert.deepEqual(calls, [true, true, true, false, false, false], 'the photos with people and dogs, not the pictures without');

    for (let i = 0; i < 2; i++) workers.push(await startWorker(redis.url, trained.archive, freshCache()));
    const run = predict(['--state-archive', trained.archive, '--batch', '2', 'keyword-photos']);
    assert.equal(await run.exited, 0, run.stderr());
    assertSameRecords(run.stdout(), localKeywords);
    await stopWorkers();

    // A worker that could not find the keywords refuses the archive at start, not each batch.
    const models = path.join(work, 'models-without-keywords');
    await fs.mkdir(models);
    const installed = path.resolve(__dirname, '../../models');
    for (const name of await fs.readdir(installed))
      if (name !== 'centernet_coco512.onnx') await fs.symlink(path.join(installed, name), path.join(models, name));
    const refused = tagsmith(['worker', '--redis', redis.url, '--state-archive', trained.archive, '--cache', freshCache()], {
      env: { TAGSMITH_MODELS_DIR: models },
    });
    assert.equal(await refused.exited, 1);
    assert.match(
      refused.stderr(),
      /tagsmith worker: Tag "field" was trained with keywords \(apply_keywords\), and the keywords model is not installed .*run `npm run models:keywords` on this worker/,
    );
  });

  it("never scores a batch with another archive's models, and will not start without an archive it can load", async () => {
    const w = await worker();
    const job = await queue.add(
      'scan-batch',
      {
        name: 'tagsmith-scan-batch',
        formatVersion: 1,
        run: 'r-forged-0123abcd',
        batch: 0,
        archive: 'f'.repeat(64),
        backbone: 'mobilenet_v2_140_int8_flip320',
        paths: [path.join(work, 'photos', 'a', '0000.jpg')],
      },
      { jobId: 'r-forged-0123abcd.0', attempts: 3 },
    );
    await until(
      async () => (await job.getState()) === 'failed',
      30_000,
      () => w.output(),
    );
    const failed = await queue.getJob(job.id!);
    assert.match(failed!.failedReason, /asks for archive f{64} .* it refuses the batch/);
    assert.equal(failed!.attemptsMade, 1, 'refused at once, not tried again');
    assert.equal(failed!.returnvalue, null);
    await failed!.remove();

    await fs.writeFile(path.join(work, 'not-an-archive.tar'), 'nope');
    const refused = tagsmith(['worker', '--redis', redis.url, '--state-archive', path.join(work, 'not-an-archive.tar'), '--cache', freshCache()]);
    assert.equal(await refused.exited, 1);
    assert.match(refused.stderr(), /tagsmith worker: The archive (was refused|could not be read)/);
    await stopWorkers();
  });
});
