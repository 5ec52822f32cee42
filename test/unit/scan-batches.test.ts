// The pure logic of distributed scans: cutting a walk into batches, the check that makes a
// batch count once and whole, the coordinator's ledger a resumed run starts from, and the
// records printed in walk order whatever order the answers come in.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { OrderedRecords, RunLedger, type RunManifest } from '../../kernel/cluster/run-ledger';
import {
  BATCH_RESULT_FORMAT,
  batchOf,
  checkBatchResult,
  checkJob,
  cutBatches,
  jobId,
  newRunId,
  queueName,
  type BatchImage,
  type BatchResult,
} from '../../kernel/cluster/scan-jobs';
import { TagsmithError } from '../../kernel/errors';
import { tempDir } from '../helpers/engine';

const ARCHIVE = 'a'.repeat(64);
const RUN = 'r-abc123-0123abcd';

function image(p: string, score = 0.7): BatchImage {
  return {
    path: p,
    sha256: 'b'.repeat(64),
    width: 4,
    height: 3,
    tags: { cats: { score, threshold: 0.5, applies: score >= 0.5 } },
    aesthetic: 0.5,
    stock: 0.4,
    nsfw: { neutral: 1 },
  };
}

function answer(batch: number, paths: string[], skipped: string[] = [], extra: Partial<BatchResult> = {}): BatchResult {
  return {
    name: 'tagsmith-scan-batch-result',
    formatVersion: BATCH_RESULT_FORMAT,
    run: RUN,
    batch,
    archive: ARCHIVE,
    worker: 'tagsmith-worker@test:1',
    images: paths.map((p) => image(p)),
    skipped: skipped.map((p) => ({ path: p, reason: 'not an image' })),
    embedded: paths.length,
    known: 0,
    ...extra,
  };
}

function manifest(batches: string[][]): RunManifest {
  return {
    name: 'tagsmith-scan-run',
    formatVersion: 1,
    id: RUN,
    createdAt: new Date().toISOString(),
    redis: 'redis://127.0.0.1:6379',
    queue: queueName(ARCHIVE, 'net'),
    archive: { path: '/backup.tar', sha256: ARCHIVE },
    backbone: 'net',
    cwd: '/',
    inputs: ['/photos'],
    format: 'jsonl',
    tags: ['cats'],
    nsfwLabels: ['neutral'],
    appliesOnly: false,
    batchSize: 2,
    batches,
    walkSkipped: [],
  };
}

describe('batches', () => {
  it('cuts the walk in order, the last batch holding the rest', () => {
    assert.deepEqual(cutBatches(['a', 'b', 'c', 'd', 'e'], 2), [['a', 'b'], ['c', 'd'], ['e']]);
    assert.deepEqual(cutBatches([], 32), []);
    assert.throws(() => cutBatches(['a'], 0), RangeError);
    assert.throws(() => cutBatches(['a'], 1001), RangeError);
  });

  it('names each batch of a run by one job id, and reads it back', () => {
    const run = newRunId();
    assert.equal(batchOf(run, jobId(run, 17)), 17);
    assert.equal(batchOf(run, jobId('r-other-00000000', 17)), undefined);
    assert.equal(batchOf(run, `${run}.x`), undefined);
    assert.doesNotMatch(queueName(ARCHIVE, 'mobilenet_v2_140'), /:/, 'BullMQ refuses queue names with a colon');
  });

  it('lets a worker refuse a malformed job', () => {
    const job = { name: 'tagsmith-scan-batch', formatVersion: 1, run: RUN, batch: 0, archive: ARCHIVE, backbone: 'net', paths: ['/photos/a.jpg'] };
    assert.deepEqual(checkJob(job), job);
    assert.match((checkJob({ ...job, paths: ['photos/a.jpg'] }) as { problem: string }).problem, /paths\[0\].*absolute/);
    assert.match((checkJob({ ...job, paths: [] }) as { problem: string }).problem, /paths/);
    assert.match((checkJob({ ...job, archive: 'x' }) as { problem: string }).problem, /archive/);
    assert.match((checkJob({ ...job, extra: 1 }) as { problem: string }).problem, /extra/);
  });
});

describe('a batch answer counts once and whole', () => {
  const expected = { run: RUN, batch: 3, archive: ARCHIVE, paths: ['/p/a.jpg', '/p/b.jpg', '/p/c.jpg'] };
  const problem = (value: unknown) => (checkBatchResult(value, expected) as { problem?: string }).problem;

  it('takes an answer naming every path once, as an image or skipped', () => {
    const ok = answer(3, ['/p/a.jpg', '/p/c.jpg'], ['/p/b.jpg']);
    assert.deepEqual(checkBatchResult(ok, expected), ok);
  });

  it('refuses an answer that leaves a path out, names one twice or one of another batch', () => {
    assert.match(problem(answer(3, ['/p/a.jpg', '/p/b.jpg']))!, /leaves out \/p\/c\.jpg/);
    assert.match(problem(answer(3, ['/p/a.jpg', '/p/b.jpg', '/p/c.jpg'], ['/p/a.jpg']))!, /names \/p\/a\.jpg twice/);
    assert.match(problem(answer(3, ['/p/a.jpg', '/p/b.jpg', '/p/c.jpg', '/p/d.jpg']))!, /\/p\/d\.jpg, which is not in the batch/);
  });

  it('refuses an answer of another run, batch or archive, or a score out of range', () => {
    assert.match(problem(answer(4, expected.paths))!, /batch 4/);
    assert.match(problem({ ...answer(3, expected.paths), run: 'r-other-00000000' })!, /r-other/);
    assert.match(problem({ ...answer(3, expected.paths), archive: 'c'.repeat(64) })!, /scored with archive c+/);
    const bad = answer(3, expected.paths);
    bad.images[0].tags.cats.score = 1.5;
    assert.match(problem(bad)!, /malformed.*score/);
    assert.match(problem('nonsense')!, /malformed/);
  });

  it("refuses keywords found by another keywords model than the engine's, or by an unnamed one", () => {
    const withKeywords = { ...expected, keywords: true, keywordModel: 'detector_v1' };
    const keyworded = (extra: Partial<BatchResult>) => {
      const result = answer(3, expected.paths, [], extra);
      for (const i of result.images) Object.assign(i, { keywords: {}, keywordVector: [0.1, 0.2] });
      return result;
    };
    const ok = keyworded({ keywordModel: 'detector_v1' });
    assert.deepEqual(checkBatchResult(ok, withKeywords), ok);
    assert.match(
      (checkBatchResult(keyworded({ keywordModel: 'detector_v2' }), withKeywords) as { problem: string }).problem,
      /from detector_v2, not detector_v1/,
    );
    assert.match((checkBatchResult(keyworded({}), withKeywords) as { problem: string }).problem, /from an unnamed model, not detector_v1/);
  });
});

describe('the run ledger', () => {
  it('keeps answers across a restart of the coordinator, the first answer of a batch only', async () => {
    const dir = await tempDir('tagsmith-ledger-');
    try {
      const batches = [['/p/1.jpg', '/p/2.jpg'], ['/p/3.jpg', '/p/4.jpg'], ['/p/5.jpg']];
      const ledger = await RunLedger.create(dir, manifest(batches));
      assert.deepEqual(ledger.missing(), [0, 1, 2]);
      assert.equal(await ledger.save(1, answer(1, batches[1])), true);
      assert.equal(await ledger.save(1, answer(1, batches[1], [], { worker: 'another' })), false, 'a batch answered twice counts once');

      const resumed = await RunLedger.open(dir, RUN);
      assert.deepEqual(resumed.missing(), [0, 2]);
      assert.equal(resumed.result(1)!.worker, 'tagsmith-worker@test:1');
      assert.equal(resumed.answeredFiles(), 2);

      // A torn or foreign answer file is not trusted: its batch is done again.
      await fs.writeFile(path.join(dir, RUN, 'batches', '2.json'), '{"name": "tagsmith-scan-batch-result"');
      await fs.writeFile(path.join(dir, RUN, 'batches', '0.json'), JSON.stringify(answer(0, ['/p/1.jpg'])));
      assert.deepEqual((await RunLedger.open(dir, RUN)).missing(), [0, 2]);

      await resumed.remove();
      await assert.rejects(RunLedger.open(dir, RUN), /There is no run r-abc123-0123abcd/);
      await assert.rejects(
        RunLedger.open(dir, '../etc'),
        (e: unknown) => e instanceof TagsmithError && e.code === 'invalid_option' && /is not a run id/.test(e.message),
      );
      await assert.rejects(RunLedger.create(dir, { ...manifest(batches), id: '../../escaped' }), /is not a run id/);
      await assert.rejects(fs.stat(path.join(dir, '..', '..', 'escaped')), { code: 'ENOENT' });
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('records in walk order', () => {
  it('prints each batch once every batch before it is printed, each path once', () => {
    const answers = new Map<number, BatchResult>();
    const printed: string[] = [];
    const skipped: string[] = [];
    const records = new OrderedRecords(
      3,
      (b) => answers.get(b),
      (i) => printed.push(i.path),
      (s) => skipped.push(s.path),
    );
    answers.set(2, answer(2, ['/p/5.jpg']));
    assert.equal(records.flush(), 0, 'batch 2 waits for 0 and 1');
    answers.set(0, answer(0, ['/p/1.jpg'], ['/p/2.jpg']));
    assert.equal(records.flush(), 1);
    assert.equal(records.position, 1);
    // Batch 1 holds a path batch 0 printed already (never so from one walk, but never twice either).
    answers.set(1, answer(1, ['/p/1.jpg', '/p/4.jpg']));
    assert.equal(records.flush(), 2);
    assert.deepEqual(printed, ['/p/1.jpg', '/p/4.jpg', '/p/5.jpg']);
    assert.deepEqual(skipped, ['/p/2.jpg']);
    assert.equal(records.done, true);
    assert.equal(records.flush(), 0);
  });
});
