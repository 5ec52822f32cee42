// Helper-thread entry of ParallelFits: fits logistic regressions on rows of the shared matrix.
import { parentPort, workerData } from 'node:worker_threads';
import { runFit, SharedMatrix, type FitReply, type FitRequest } from './parallel-fits';

const { buffer, width } = workerData as { buffer: SharedArrayBuffer; width: number };
const rows = SharedMatrix.views(buffer, width);

parentPort?.on('message', (request: FitRequest) => {
  let reply: FitReply;
  try {
    const model = runFit(rows, { ...request, labels: Array.from(request.labels), weights: Array.from(request.weights) });
    reply = { id: request.id, weights: model.weights, bias: model.bias };
  } catch (error) {
    reply = { id: request.id, error: (error as Error).message };
  }
  parentPort!.postMessage(reply);
});
