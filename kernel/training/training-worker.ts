// Worker-thread entry: trains one tag off the engine's event loop, so predictions keep
// answering while it runs. Messages: in {data, options}; out progress*, then done | error.
import { availableParallelism } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { asTagsmithError } from '../errors';
import { trainTag, type TrainingData, type TrainingProgress } from './train-tag';
import type { TagModelJson } from './tag-model';
import type { TrainOptions } from './train-options';

export type TrainingRequest = { data: TrainingData; options: TrainOptions };
export type TrainingMessage =
  | ({ kind: 'progress' } & TrainingProgress)
  | { kind: 'done'; model: TagModelJson }
  | { kind: 'error'; code: string; message: string };

// Cross-validation's fits spread over two cores (what this kind of machine has; predictions
// still get their share, the engine answers them between fits).
const THREADS = Math.min(2, availableParallelism());

parentPort?.once('message', async (request: TrainingRequest) => {
  const post = (message: TrainingMessage) => parentPort!.postMessage(message);
  try {
    const model = await trainTag(request.data, request.options, (p) => post({ kind: 'progress', ...p }), { threads: THREADS });
    post({ kind: 'done', model: model.toJSON() });
  } catch (error) {
    const e = asTagsmithError(error);
    post({ kind: 'error', code: e.code, message: e.message });
  }
});
