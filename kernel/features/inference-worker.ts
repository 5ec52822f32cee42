// Worker-thread entry of the inference pool: one ONNX session, batches of views in, outputs back.
// ONNX Runtime's run() blocks the thread that calls it; here it blocks this worker, never
// the engine's event loop, and several workers run batches at the same time.
import { parentPort, workerData } from 'node:worker_threads';
import { createSession, runViews, type RunnerSpec, type View } from './input-tensor';

export type WorkerRequest = { id: number; views: View[] };
export type WorkerReply = { id: number; features: Float32Array; nsfw: Float32Array } | { id: number; error: string } | { ready: true } | { failed: string };

const spec = workerData as RunnerSpec;

createSession(spec).then(
  (session) => {
    parentPort!.on('message', (request: WorkerRequest) => {
      runViews(session, spec, request.views).then(
        ({ features, nsfw }) => parentPort!.postMessage({ id: request.id, features, nsfw } satisfies WorkerReply),
        (error: Error) => parentPort!.postMessage({ id: request.id, error: error.message } satisfies WorkerReply),
      );
    });
    parentPort!.postMessage({ ready: true } satisfies WorkerReply);
  },
  (error: Error) => parentPort!.postMessage({ failed: error.message } satisfies WorkerReply),
);
