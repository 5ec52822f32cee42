// The configured thread count reaches training: a task's fits run on that many threads (its
// worker and the fit pool's helpers), and 0 means every core, as for inference.
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { TrainingQueue, type TrainingHost } from '../../kernel/engine/training-queue';
import { seededRandom } from '../../kernel/ml/random';
import { threadCount } from '../../kernel/threads';
import type { TrainingData } from '../../kernel/training/train-tag';

/** Two separable blobs of 8-D points: enough for a real cross-validated training. */
function trainingData(): TrainingData {
  const random = seededRandom(5);
  const blob = (hot: number, count: number) =>
    Array.from({ length: count }, () => ({
      features: Float32Array.from({ length: 8 }, (_, j) => (j === hot ? 1 : 0.05) + (random() - 0.5) * 0.2),
    }));
  return { tag: 't', backbone: 'test', featureLength: 8, positives: blob(0, 10), negatives: blob(5, 10), samplesDigest: '' };
}

/**
 * Worker threads started while `work` runs, in this thread and in the workers themselves:
 * thread ids are handed out by one counter per process, so two probes bracket the count.
 */
async function threadsStartedBy(work: () => Promise<void>): Promise<number> {
  const probe = async () => {
    const worker = new Worker('', { eval: true });
    const id = worker.threadId;
    await worker.terminate();
    return id;
  };
  const before = await probe();
  await work();
  return (await probe()) - before - 1;
}

async function trainWith(threads: number | undefined): Promise<void> {
  const host: TrainingHost = { loadTrainingData: async () => trainingData(), saveModel: async () => {}, saveTask: async () => {} };
  const queue = new TrainingQueue(host, { threads });
  const { task_id } = await queue.enqueue('t', { num_clusters: 1, apply_aesthetic_score: false, apply_stock_score: false });
  await queue.whenIdle();
  assert.equal(queue.status(task_id).state, 'done', JSON.stringify(queue.status(task_id).error));
}

describe('training threads', { timeout: 120_000 }, () => {
  it("runs a task's fits on the configured number of threads: its worker and the fit pool's helpers", async () => {
    assert.equal(await threadsStartedBy(() => trainWith(3)), 3);
    assert.equal(await threadsStartedBy(() => trainWith(1)), 1);
  });

  it("reads the count as each task starts (`tagsmith serve --threads` sets it on the engine's queue)", async () => {
    const host: TrainingHost = { loadTrainingData: async () => trainingData(), saveModel: async () => {}, saveTask: async () => {} };
    const queue = new TrainingQueue(host);
    queue.threads = 2;
    const started = await threadsStartedBy(async () => {
      await queue.enqueue('t', { num_clusters: 1, apply_aesthetic_score: false, apply_stock_score: false });
      await queue.whenIdle();
    });
    assert.equal(started, 2);
  });

  it('takes 0 or no setting as every core, as inference does', () => {
    assert.equal(threadCount(0), availableParallelism());
    assert.equal(threadCount(undefined), availableParallelism());
    assert.equal(threadCount(3), 3);
  });
});
