// Runs a model on as many cores as it is given: one runner per core, each an ONNX session with
// one intra-op thread in a worker thread of its own, fed batches of views from one queue in two
// lanes (an image someone waits for goes before a scan's).
// Runners share no barrier, so a core that sharp is decoding on slows one batch instead of
// stalling every op of a parallel one, and the event loop stays free while they run.
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type * as ort from 'onnxruntime-node';
import { createSession, runViews, type BatchOutput, type RunnerSpec, type View } from './input-tensor';
import type { WorkerReply, WorkerRequest } from './inference-worker';

interface Runner {
  /** How many runs it may be handed at once (a worker queues the second in its inbox). */
  readonly runsHanded: number;
  run(views: View[]): Promise<BatchOutput>;
  close(): Promise<void>;
}

interface Pending {
  view: View;
  resolve: (value: { features: Float32Array; nsfw: Float32Array }) => void;
  reject: (error: unknown) => void;
  signal?: AbortSignal;
}

export interface PoolOptions {
  /** Runners; 0 runs the session on this thread (blocking it while it runs). */
  workers: number;
  /** Most views one run takes. */
  maxBatch: number;
}

/**
 * Whose views these are: `interactive` (a /predict, a sample added: someone is waiting for this
 * image) or `bulk` (a folder scan, which keeps many images queued to keep the cores busy). An
 * interactive view is handed out before any bulk one, so a scan's deep queue does not stand
 * between a user and the answer for one image.
 */
export type Lane = 'interactive' | 'bulk';

export interface InferOptions {
  /** Default interactive. */
  lane?: Lane;
  /** Aborted before a runner takes the view: it leaves the queue, rejected with the signal's reason (a cancelled scan's queue empties at once). */
  signal?: AbortSignal;
}

export class InferencePool {
  private readonly queues: Record<Lane, Pending[]> = { interactive: [], bulk: [] };
  /** Signals this pool listens to already. */
  private readonly watched = new WeakSet<AbortSignal>();
  /** Runs each runner has been handed and not yet answered. */
  private readonly load: Map<Runner, number>;

  private constructor(
    private readonly runners: Runner[],
    private readonly spec: RunnerSpec,
    private readonly maxBatch: number,
  ) {
    this.load = new Map(runners.map((r) => [r, 0]));
  }

  static async create(spec: RunnerSpec, options: PoolOptions): Promise<InferencePool> {
    const runners =
      options.workers === 0 ? [await LocalRunner.create(spec)] : await Promise.all(Array.from({ length: options.workers }, () => WorkerRunner.create(spec)));
    return new InferencePool(runners, spec, options.maxBatch);
  }

  /** The features and nsfw probabilities of one view. */
  infer(view: View, options: InferOptions = {}): Promise<{ features: Float32Array; nsfw: Float32Array }> {
    const { lane = 'interactive', signal } = options;
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      if (signal && !this.watched.has(signal)) {
        // One listener a signal, however many views it covers (a scan's are hundreds).
        this.watched.add(signal);
        signal.addEventListener('abort', () => this.dropQueued(signal), { once: true });
      }
      this.queues[lane].push({ view, resolve, reject, signal });
      queueMicrotask(() => this.dispatch());
    });
  }

  /** Rejects, with the signal's reason, the views of an aborted signal that no runner has taken yet. */
  private dropQueued(signal: AbortSignal): void {
    for (const lane of ['interactive', 'bulk'] as const) {
      const dropped = this.queues[lane].filter((p) => p.signal === signal);
      if (dropped.length === 0) continue;
      this.queues[lane] = this.queues[lane].filter((p) => p.signal !== signal);
      for (const p of dropped) p.reject(signal.reason);
    }
  }

  private get queued(): number {
    return this.queues.interactive.length + this.queues.bulk.length;
  }

  /** The next `count` views to hand out (fewer if fewer wait), interactive ones first. */
  private take(count: number): Pending[] {
    const batch = this.queues.interactive.splice(0, count);
    return batch.concat(this.queues.bulk.splice(0, count - batch.length));
  }

  async close(): Promise<void> {
    await Promise.all(this.runners.map((r) => r.close()));
  }

  /**
   * Hands queued views to runners, up to `maxBatch` per run. Dispatch waits for a microtask, so
   * the views of one image queued together go out together. Idle runners come first and share
   * the queue fairly (one image's two views run on two cores at once). What is left goes one
   * run deep behind a busy worker's current run: a worker that finishes then starts its next
   * run at once, instead of waiting for this thread, which may be busy hashing, measuring cues
   * or writing a scan's cache, to answer its message and hand it more.
   */
  private dispatch(): void {
    for (let depth = 0; depth < MAX_RUNS_HANDED && this.queued > 0; depth++) {
      const ready = this.runners.filter((r) => this.load.get(r) === depth && depth < r.runsHanded);
      for (const [i, runner] of ready.entries()) {
        if (this.queued === 0) return;
        const share = Math.min(this.maxBatch, Math.ceil(this.queued / (ready.length - i)));
        this.start(runner, this.take(share));
      }
    }
  }

  private start(runner: Runner, batch: Pending[]): void {
    this.load.set(runner, this.load.get(runner)! + 1);
    runner
      .run(batch.map((p) => p.view))
      .then(
        (out) => {
          const f = this.spec.featureLength;
          const k = this.spec.labels;
          batch.forEach((p, i) => p.resolve({ features: out.features.slice(i * f, (i + 1) * f), nsfw: out.nsfw.slice(i * k, (i + 1) * k) }));
        },
        (error: unknown) => batch.forEach((p) => p.reject(error)),
      )
      .finally(() => {
        this.load.set(runner, this.load.get(runner)! - 1);
        this.dispatch();
      });
  }
}

/** The most runs a runner holds at once: the one it runs and one waiting in its worker's inbox. */
const MAX_RUNS_HANDED = 2;

class LocalRunner implements Runner {
  // It blocks this thread while it runs: nothing to gain from handing it a second run.
  readonly runsHanded = 1;

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly spec: RunnerSpec,
  ) {}

  static async create(spec: RunnerSpec): Promise<LocalRunner> {
    return new LocalRunner(await createSession(spec), spec);
  }

  run(views: View[]): Promise<BatchOutput> {
    return runViews(this.session, this.spec, views);
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

class WorkerRunner implements Runner {
  readonly runsHanded = MAX_RUNS_HANDED;
  private readonly pending = new Map<number, { resolve: (out: BatchOutput) => void; reject: (error: Error) => void }>();
  private nextId = 1;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (reply: WorkerReply) => {
      if (!('id' in reply)) return;
      const waiting = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (this.pending.size === 0) worker.unref();
      if ('error' in reply) waiting?.reject(new Error(reply.error));
      else waiting?.resolve(reply);
    });
    worker.on('error', (error) => this.failAll(error));
    worker.on('exit', () => this.failAll(new Error('the inference worker exited')));
    // An idle extractor nobody released must not keep the process alive; one with work in
    // flight must (unref'd after the listeners: adding one refs the worker's port again).
    worker.unref();
  }

  static create(spec: RunnerSpec): Promise<WorkerRunner> {
    const file = workerFile();
    // Under tsx (tests, benchmarks) the worker must load TypeScript too.
    const worker = file.endsWith('.ts')
      ? new Worker(`require('tsx/cjs/api').register(); require(${JSON.stringify(file)});`, { eval: true, workerData: spec })
      : new Worker(file, { workerData: spec });
    return new Promise((resolve, reject) => {
      const onMessage = (reply: WorkerReply) => {
        if ('ready' in reply) resolve(new WorkerRunner(worker));
        else if ('failed' in reply) reject(new Error(reply.failed));
        else return;
        worker.off('message', onMessage);
        worker.off('error', reject);
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
    });
  }

  run(views: View[]): Promise<BatchOutput> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, views } satisfies WorkerRequest);
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }

  private failAll(error: Error): void {
    for (const waiting of this.pending.values()) waiting.reject(error);
    this.pending.clear();
    this.worker.unref();
  }
}

/** The worker's file: next to the bundle in dist/, or the TypeScript source under tsx. */
function workerFile(): string {
  const candidates = [
    path.join(__dirname, 'inference-worker.js'),
    path.join(__dirname, 'inference-worker.ts'),
    path.join(__dirname, '..', 'features', 'inference-worker.ts'),
  ];
  const found = candidates.find((file) => fs.existsSync(file));
  if (!found) throw new Error(`inference worker not found (looked for ${candidates.join(', ')})`);
  return found;
}
