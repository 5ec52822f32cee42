// The kernel's worker threads, started one way: from their bundle next to this file in dist/
// (esbuild.mjs builds one per entry), or from their TypeScript source under tsx (tests,
// benchmarks); and what a configured thread count means.
import fs from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** Each worker entry and its source file under kernel/; its bundle is dist/kernel/<entry>.js. */
const WORKER_SOURCES = {
  'training-worker': 'training/training-worker.ts',
  'fit-worker': 'ml/fit-worker.ts',
} as const;

export type WorkerEntry = keyof typeof WORKER_SOURCES;

export function startWorker(entry: WorkerEntry, options: WorkerOptions = {}): Worker {
  const bundle = path.join(__dirname, `${entry}.js`);
  if (fs.existsSync(bundle)) return new Worker(bundle, options);
  const source = path.join(__dirname, WORKER_SOURCES[entry]);
  if (!fs.existsSync(source)) throw new Error(`${entry} not found (looked for ${bundle} and ${source})`);
  // A worker does not inherit the parent's loader: under tsx it registers tsx before the source.
  return new Worker(`require('tsx/cjs/api').register(); require(${JSON.stringify(source)});`, { ...options, eval: true });
}

/** Threads to use when `configured` were asked for: 0 (or nothing) means every core, as for inference. */
export function threadCount(configured: number | undefined): number {
  return configured !== undefined && configured >= 1 ? Math.floor(configured) : availableParallelism();
}
