// Runs many independent logistic-regression fits on two (or more) cores: this thread takes
// some, helper worker threads the rest. The sample matrix lives in one SharedArrayBuffer, so
// a fit sends only row indices, labels and weights, never the features themselves.
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../threads';
import { fitLogistic, type LogisticModel } from './logistic-regression';

export interface FitJob {
  /** Rows of the shared matrix this fit uses. */
  rows: number[];
  labels: number[];
  weights: number[];
  l2: number;
  tolerance: number;
  maxIterations: number;
  init?: LogisticModel;
  /** Weights the penalty pulls toward (a cluster head toward the shared head); default zero. */
  prior?: Float64Array;
}

export interface FitRequest {
  id: number;
  rows: Int32Array;
  labels: Float64Array;
  weights: Float64Array;
  l2: number;
  tolerance: number;
  maxIterations: number;
  init?: { weights: Float64Array; bias: number };
  prior?: Float64Array;
}

export type FitReply = { id: number; weights: Float64Array; bias: number } | { id: number; error: string };

/** The samples as one matrix in shared memory, one row view per sample. */
export class SharedMatrix {
  readonly buffer: SharedArrayBuffer;
  readonly rows: Float64Array[];

  constructor(
    rows: ArrayLike<number>[],
    readonly width: number,
  ) {
    this.buffer = new SharedArrayBuffer(rows.length * width * 8);
    const all = new Float64Array(this.buffer);
    this.rows = rows.map((row, i) => {
      const view = all.subarray(i * width, (i + 1) * width);
      view.set(row);
      return view;
    });
  }

  static views(buffer: SharedArrayBuffer, width: number): Float64Array[] {
    const all = new Float64Array(buffer);
    return Array.from({ length: all.length / width }, (_, i) => all.subarray(i * width, (i + 1) * width));
  }
}

export function runFit(
  rows: Float64Array[],
  job: Pick<FitJob, 'labels' | 'weights' | 'l2' | 'tolerance' | 'maxIterations' | 'init' | 'prior'> & { rows: ArrayLike<number> },
): LogisticModel {
  const x = Array.from(job.rows, (r) => rows[r]);
  const { weights, bias } = fitLogistic(x, job.labels, job.weights, {
    l2: job.l2,
    tolerance: job.tolerance,
    maxIterations: job.maxIterations,
    init: job.init,
    prior: job.prior,
  });
  return { weights, bias };
}

export class ParallelFits {
  private readonly helpers: Worker[] = [];
  private readonly pending = new Map<number, { resolve: (m: LogisticModel) => void; reject: (e: Error) => void }>();
  private nextId = 1;

  private constructor(private readonly matrix: SharedMatrix) {}

  /** `threads` counts this one: 1 fits everything here, 2 adds one helper thread. */
  static create(matrix: SharedMatrix, threads: number): ParallelFits {
    const fits = new ParallelFits(matrix);
    for (let i = 1; i < threads; i++) {
      const worker = startWorker('fit-worker', { workerData: { buffer: matrix.buffer, width: matrix.width } });
      worker.unref();
      worker.on('message', (reply: FitReply) => fits.settle(reply));
      worker.on('error', (error) => fits.failAll(error));
      fits.helpers.push(worker);
    }
    return fits;
  }

  /**
   * Fits every job; results in job order. Jobs are dealt largest first to whichever thread has
   * the least work queued, and this thread works through its share while the helpers do theirs.
   */
  async fitAll(jobs: FitJob[]): Promise<LogisticModel[]> {
    const results: LogisticModel[] = new Array(jobs.length);
    const shares: number[][] = Array.from({ length: this.helpers.length + 1 }, () => []);
    const load = shares.map(() => 0);
    const order = jobs.map((_, i) => i).sort((a, b) => jobs[b].rows.length - jobs[a].rows.length);
    for (const j of order) {
      const least = load.indexOf(Math.min(...load));
      shares[least].push(j);
      load[least] += jobs[j].rows.length;
    }
    const remote = Promise.all(
      this.helpers.map((worker, h) => Promise.all(shares[h + 1].map((j) => this.send(worker, jobs[j]).then((m) => (results[j] = m))))),
    );
    // Observed now, awaited below: should this thread's own share throw first, a helper's
    // failure must not become an unhandled rejection, which would end the process.
    remote.catch(() => {});
    for (const j of shares[0]) results[j] = runFit(this.matrix.rows, jobs[j]);
    await remote;
    return results;
  }

  close(): void {
    for (const worker of this.helpers) void worker.terminate();
  }

  private send(worker: Worker, job: FitJob): Promise<LogisticModel> {
    const id = this.nextId++;
    const request: FitRequest = {
      id,
      rows: Int32Array.from(job.rows),
      labels: Float64Array.from(job.labels),
      weights: Float64Array.from(job.weights),
      l2: job.l2,
      tolerance: job.tolerance,
      maxIterations: job.maxIterations,
      init: job.init && { weights: Float64Array.from(job.init.weights), bias: job.init.bias },
      prior: job.prior,
    };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage(request);
    });
  }

  private settle(reply: FitReply): void {
    const waiting = this.pending.get(reply.id);
    this.pending.delete(reply.id);
    if (!waiting) return;
    if ('error' in reply) waiting.reject(new Error(reply.error));
    else waiting.resolve({ weights: reply.weights, bias: reply.bias });
  }

  private failAll(error: Error): void {
    for (const waiting of this.pending.values()) waiting.reject(error);
    this.pending.clear();
  }
}
