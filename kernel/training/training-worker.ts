// Worker-thread entry: trains one tag off the engine's event loop, so predictions keep
// answering while it runs. Messages: in {data, options, threads}; out progress*, then done | error.
import { parentPort } from 'node:worker_threads';
import { asTagsmithError } from '../errors';
import { trainTag, type TrainingData, type TrainingProgress } from './train-tag';
import type { TagModelJson } from './tag-model';
import type { TrainOptions } from './train-options';

/** `threads`: for the cross-validation's fits, this thread included (the queue resolves 0 to every core). */
export type TrainingRequest = { data: TrainingData; options: TrainOptions; threads: number };
export type TrainingMessage =
  ({ kind: 'progress' } & TrainingProgress) | { kind: 'done'; model: TagModelJson } | { kind: 'error'; code: string; message: string };

parentPort?.once('message', async (request: TrainingRequest) => {
  const post = (message: TrainingMessage) => parentPort!.postMessage(message);
  try {
    const model = await trainTag(request.data, request.options, (p) => post({ kind: 'progress', ...p }), { threads: request.threads });
    post({ kind: 'done', model: model.toJSON() });
  } catch (error) {
    const e = asTagsmithError(error);
    post({ kind: 'error', code: e.code, message: e.message });
  }
});
