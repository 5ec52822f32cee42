// The training queue with a stand-in host: a task still loading its samples (embedding them
// again after a switch of backbone) stops at its next progress report when it is cancelled or
// the engine stops, not after every sample. The host's loading advances only when the test
// lets it, so what is counted does not depend on timing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TrainingQueue, type TrainingHost } from '../../kernel/engine/training-queue';
import { TagsmithError } from '../../kernel/errors';
import { DEFAULT_TRAIN_OPTIONS } from '../../kernel/rules';
import { firstEvent, Gate, within } from '../helpers/wait';

const STEPS = 100;

/** A host whose loading reports progress, then waits for the test's gate before each next step; `steps` counts the reports. */
function gatedLoadingHost(): TrainingHost & { steps: number; gate: Gate } {
  const host = {
    steps: 0,
    gate: new Gate(),
    loadTrainingData: async (_tag: string, _options: unknown, onProgress: (stage: string, progress: number) => void) => {
      for (; host.steps < STEPS; host.steps++) {
        onProgress('embedding samples for test', host.steps / STEPS);
        await host.gate.wait();
      }
      throw new Error('loading should have been stopped');
    },
    saveModel: async () => {},
    saveTask: async () => {},
  };
  return host;
}

/** Enqueues a task and resolves once its loading has made its first progress report. */
async function loadingTask(queue: TrainingQueue): Promise<string> {
  const embedding = firstEvent(queue.onChange.bind(queue), (t) => t.stage?.startsWith('embedding') ?? false, 'the task is embedding samples');
  const { task_id } = await queue.enqueue('tag', DEFAULT_TRAIN_OPTIONS);
  await embedding;
  return task_id;
}

describe('a training task still loading its samples', () => {
  it('is cancelled at its next progress report, not after every sample is embedded', async () => {
    const host = gatedLoadingHost();
    const queue = new TrainingQueue(host);
    const taskId = await loadingTask(queue);
    const cancelled = queue.cancel(taskId);
    host.gate.open();
    await within(
      cancelled.then(() => queue.whenIdle()),
      30_000,
      'the queue is idle after the cancel',
    );
    const task = queue.status(taskId);
    assert.deepEqual([task.state, task.error?.code], ['failed', 'cancelled']);
    assert.equal(host.steps, 1, 'the loading stopped at the first report after the cancel');
  });

  it('stops with the engine, the task reading interrupted', async () => {
    const host = gatedLoadingHost();
    const queue = new TrainingQueue(host);
    const taskId = await loadingTask(queue);
    const stopped = queue.stop();
    host.gate.open();
    await within(stopped, 30_000, 'the queue has stopped');
    const task = queue.status(taskId);
    assert.deepEqual([task.state, task.error?.code], ['failed', 'interrupted']);
    assert.equal(host.steps, 1, 'the loading stopped at the first report after the stop');
  });
});

describe('a finished task', () => {
  it('reads finished only once its record is on disk, so an archive taken at once holds the outcome', async () => {
    const saving = new Gate();
    let finalSave!: () => void;
    const finalSaveStarted = new Promise<void>((resolve) => (finalSave = resolve));
    const saved: string[] = [];
    const host: TrainingHost = {
      loadTrainingData: async () => {
        throw new TagsmithError('not_enough_samples', 'Add samples first.');
      },
      saveModel: async () => {},
      saveTask: async (record) => {
        if (record.finishedAt) {
          finalSave();
          await saving.wait();
        }
        saved.push(record.state);
      },
    };
    const queue = new TrainingQueue(host);
    const { task_id } = await queue.enqueue('tag', DEFAULT_TRAIN_OPTIONS);
    await within(finalSaveStarted, 30_000, 'the outcome is being saved');
    assert.equal(queue.status(task_id).state, 'running', 'not shown finished while its record is being written');
    saving.open();
    await within(queue.whenIdle(), 30_000, 'the queue is idle');
    assert.equal(queue.status(task_id).state, 'failed');
    assert.equal(saved.at(-1), 'failed');
  });
});
