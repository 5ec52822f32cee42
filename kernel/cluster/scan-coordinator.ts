// The coordinator's side of a distributed scan: it feeds a run's batches to its archive's BullMQ
// queue (a window of them at a time, so Redis holds little), collects each answer once it is
// complete, checks it (every path of the batch once, the right archive), keeps it in the run's
// ledger and then removes it from Redis.
//
// Faults, and what BullMQ and this loop do about them:
//   a worker killed mid-batch   its lock lapses; another worker's stalled-job check puts the batch
//                               back in the queue and it is done again, whole (the first try's
//                               answer never arrives: BullMQ refuses it without the lock)
//   a worker that throws        the batch is tried again (ATTEMPTS), then reported failed
//   Redis restarted, data lost  batches not collected are no longer in Redis: the periodic check
//                               finds them gone and queues them again (same job ids)
//   Redis unreachable           after `redisTimeoutMs` the run stops with `redis_unavailable`;
//                               what was collected is in the ledger, and a resume goes on
//   the coordinator killed      the ledger and the queued batches stay; `--resume` collects what
//                               workers finished meanwhile and queues what is missing
import { Queue, QueueEvents, type Job } from 'bullmq';
import { TagsmithError } from '../errors';
import { redisConnection, shownRedisUrl } from './redis-connection';
import { ATTEMPTS, batchOf, checkBatchResult, JOB_NAME, jobId, RETENTION, type BatchResult, type ScanJob } from './scan-jobs';
import type { RunLedger } from './run-ledger';

export interface RunProgress {
  /** Files in the run's batches. */
  total: number;
  /** Files whose batch is answered, plus those reported done in batches under way. */
  done: number;
  batches: number;
  answered: number;
  /** Batches in Redis now (waiting or being worked on). */
  queued: number;
  /** Workers taking this archive's batches (as Redis lists them), if known. */
  workers?: number;
  imagesPerSecond: number;
}

export interface CoordinatorOptions {
  redisUrl: string;
  ledger: RunLedger;
  /** Batches in Redis at once (default 64). */
  window?: number;
  /** How long Redis may be unreachable before the run stops (default 60 s). */
  redisTimeoutMs?: number;
  /** How often every batch in Redis is looked at (default 2 s): lost ones are queued again. */
  checkEveryMs?: number;
  signal?: AbortSignal;
  /**
   * On abort, take the run's batches out of Redis (those waiting; one under way finishes and its
   * answer goes with the others after a day): a cancelled engine scan is not resumed, so work on
   * it would be wasted. Without it (`tagsmith predict --redis`) they stay, for --resume.
   */
  dropOnAbort?: boolean;
  /** A batch's answer, once it is in the ledger. */
  onAnswer?: (batch: number, result: BatchResult) => void;
  onProgress?: (progress: RunProgress) => void;
  log: (line: string) => void;
}

export interface RunOutcome {
  /** Batches that failed every try (their files are not answered). */
  failed: { batch: number; reason: string }[];
  /** Batches that vanished from Redis and were queued again. */
  requeued: number;
}

const DEFAULT_WINDOW = 64;
/** What `call` gives when Redis did not answer (a missing job is `undefined`, a different thing). */
const NO_ANSWER = Symbol('no answer');
const CALL_TIMEOUT_MS = 5_000;
const NO_WORKER_HINT_MS = 15_000;

export async function coordinateRun(options: CoordinatorOptions): Promise<RunOutcome> {
  const { ledger } = options;
  const run = ledger.manifest;
  const connection = redisConnection(options.redisUrl);
  const window = options.window ?? DEFAULT_WINDOW;
  const redisTimeoutMs = options.redisTimeoutMs ?? 60_000;
  const checkEveryMs = options.checkEveryMs ?? 2_000;
  const queue = new Queue(run.queue, { connection, streams: { events: { maxLen: RETENTION.events } } });
  const events = new QueueEvents(run.queue, { connection });
  let redisError = '';
  const noteError = (error: Error) => {
    redisError = error.message;
  };
  queue.on('error', noteError);
  events.on('error', noteError);

  const todo = ledger.missing();
  /** Batches added to Redis and not yet collected → files reported done. */
  const inRedis = new Map<number, number>();
  const toCollect = new Set<number>();
  const failed = new Map<number, string>();
  let requeued = 0;
  let workers: number | undefined;
  let lastContact = Date.now();
  const started = performance.now();
  const answeredAtStart = ledger.answeredFiles();
  let wake: (() => void) | undefined;
  const poke = () => wake?.();

  events.on('completed', ({ jobId: id }) => {
    const batch = batchOf(run.id, id);
    if (batch !== undefined && inRedis.has(batch)) {
      toCollect.add(batch);
      poke();
    }
  });
  events.on('failed', ({ jobId: id }) => {
    const batch = batchOf(run.id, id);
    if (batch !== undefined && inRedis.has(batch)) {
      toCollect.add(batch);
      poke();
    }
  });
  events.on('progress', ({ jobId: id, data }) => {
    const batch = batchOf(run.id, id);
    const done = (data as { done?: unknown } | undefined)?.done;
    if (batch !== undefined && inRedis.has(batch) && typeof done === 'number' && Number.isFinite(done)) {
      inRedis.set(batch, Math.min(done, run.batches[batch].length));
      report();
    }
  });

  /** A Redis call that gives up after a while; undefined if it failed. Redis silent for too long stops the run. */
  const call = async <T>(what: string, work: () => Promise<T>): Promise<T | typeof NO_ANSWER> => {
    try {
      const value = await timeout(work(), CALL_TIMEOUT_MS, what);
      if (redisError && Date.now() - lastContact > 1_000) options.log(`Redis at ${shownRedisUrl(options.redisUrl)} answers again`);
      lastContact = Date.now();
      redisError = '';
      return value;
    } catch (error) {
      redisError ||= (error as Error).message;
      if (Date.now() - lastContact > redisTimeoutMs) {
        throw new TagsmithError(
          'redis_unavailable',
          `Redis at ${shownRedisUrl(options.redisUrl)} has not answered for ${Math.round((Date.now() - lastContact) / 1000)} s (${redisError}). ` +
            `${ledger.missing().length} of ${ledger.batches} batches are still to do; what was done is kept: resume with --resume ${run.id} once Redis is back.`,
        );
      }
      return NO_ANSWER;
    }
  };

  const add = async (batch: number): Promise<boolean> => {
    const data: ScanJob = {
      name: 'tagsmith-scan-batch',
      formatVersion: 1,
      run: run.id,
      batch,
      archive: run.archive.sha256,
      backbone: run.backbone,
      paths: run.batches[batch],
      ...(run.featureLength !== undefined ? { features: true } : {}),
      ...(run.keywords ? { keywords: true } : {}),
      ...(run.keywordModel !== undefined ? { keywordModel: run.keywordModel } : {}),
    };
    // The same job id each time: a batch already in Redis (waiting, under way, or answered for a
    // coordinator that was restarted) is not added twice. Counted as in Redis before the answer
    // comes, so a completion announced meanwhile is not missed.
    inRedis.set(batch, inRedis.get(batch) ?? 0);
    const added = await call('adding a batch', () =>
      queue.add(JOB_NAME, data, {
        jobId: jobId(run.id, batch),
        attempts: ATTEMPTS,
        backoff: { type: 'exponential', delay: 2_000 },
        removeOnComplete: { age: RETENTION.completedSeconds },
        removeOnFail: { age: RETENTION.failedSeconds },
      }),
    );
    if (added !== NO_ANSWER) return true;
    inRedis.delete(batch);
    return false;
  };

  /** Looks at a batch in Redis: an answer is checked, kept and removed from Redis; a failure noted; a vanished batch queued again. */
  const look = async (batch: number, retryFailed: boolean): Promise<void> => {
    const id = jobId(run.id, batch);
    const vanished = async () => {
      requeued++;
      options.log(`batch ${batch} is no longer in Redis (restarted without its data?): queued again`);
      inRedis.delete(batch);
      if (!(await add(batch))) todo.unshift(batch);
    };
    // The state first, then the job: a job read while it is under way has no answer yet, and one
    // that finished between the two reads would look completed with nothing in it. Completed and
    // failed are final, so a job read after either holds its answer or its reason.
    const state = await call('reading a batch', () => queue.getJobState(id));
    if (state === NO_ANSWER) return; // Redis did not answer: next time
    if (state === 'unknown') return vanished();
    if (state !== 'completed' && state !== 'failed') return; // waiting, delayed or under way
    const job = (await call('reading a batch', () => queue.getJob(id))) as Job | undefined | typeof NO_ANSWER;
    if (job === NO_ANSWER) return;
    if (!job) return vanished();
    if (state === 'completed') {
      const result = checkBatchResult(job.returnvalue, ledger.expected(batch));
      if ('problem' in result) {
        failed.set(batch, `its answer was refused: ${result.problem}`);
      } else {
        await ledger.save(batch, result);
        options.onAnswer?.(batch, result);
        await call('removing an answered batch', () => job.remove());
      }
      inRedis.delete(batch);
    } else if (retryFailed) {
      // Left failed by an earlier try of this run: a resume tries it again.
      options.log(`batch ${batch} had failed (${job.failedReason}): trying it again`);
      await call('retrying a batch', () => job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true }));
    } else {
      failed.set(batch, job.failedReason || 'it failed');
      inRedis.delete(batch);
    }
  };

  const progress = (): RunProgress => {
    const total = run.batches.reduce((n, b) => n + b.length, 0);
    let done = ledger.answeredFiles();
    for (const files of inRedis.values()) done += files;
    const seconds = (performance.now() - started) / 1000;
    return {
      total,
      done,
      batches: ledger.batches,
      answered: ledger.batches - ledger.missing().length,
      queued: inRedis.size,
      workers,
      imagesPerSecond: seconds > 0 ? (done - answeredAtStart) / seconds : 0,
    };
  };
  const report = () => options.onProgress?.(progress());

  try {
    await call('connecting', () => queue.waitUntilReady());
    await call('connecting', () => events.waitUntilReady());
    // A resumed run: batches already in Redis are collected or retried before anything is added.
    for (const batch of todo.splice(0, todo.length)) {
      const state = await call('reading a batch', () => queue.getJobState(jobId(run.id, batch)));
      if (state === NO_ANSWER || state === 'unknown') todo.push(batch);
      else {
        inRedis.set(batch, 0);
        await look(batch, true);
      }
    }
    todo.sort((a, b) => a - b);
    let lastCheck = Date.now();
    let lastWorkers = 0;
    let hinted = false;
    const waitingSince = Date.now();
    while (todo.length > 0 || inRedis.size > 0) {
      if (options.signal?.aborted) {
        if (options.dropOnAbort) {
          // Best effort: a cancel is not turned into a failure by Redis being away (what stays goes after a day).
          // All at once: one by one, each waiting out an unreachable Redis, a cancel (and an engine's shutdown) would take minutes.
          await Promise.allSettled([...inRedis.keys()].map((batch) => call('removing a cancelled batch', () => queue.remove(jobId(run.id, batch)))));
          throw new TagsmithError('cancelled', 'Cancelled; its batches waiting in Redis were taken out.');
        }
        throw new TagsmithError('cancelled', `Stopped. The run's batches in Redis are still worked on and kept a day; resume with --resume ${run.id}.`);
      }
      while (todo.length > 0 && inRedis.size < window) {
        if (!(await add(todo[0]))) break;
        todo.shift();
      }
      for (const batch of [...toCollect]) {
        toCollect.delete(batch);
        if (inRedis.has(batch)) await look(batch, false);
      }
      if (Date.now() - lastCheck >= checkEveryMs) {
        lastCheck = Date.now();
        for (const batch of [...inRedis.keys()]) await look(batch, false);
      }
      if (Date.now() - lastWorkers >= 5_000) {
        lastWorkers = Date.now();
        // CLIENT LIST may be refused on a managed Redis: then the count is not shown.
        workers = await queue.getWorkersCount().catch(() => undefined);
        if (workers === 0 && !hinted && Date.now() - waitingSince > NO_WORKER_HINT_MS) {
          hinted = true;
          options.log(
            `no worker takes batches of ${run.queue} yet: start \`tagsmith worker --redis ${shownRedisUrl(options.redisUrl)} --state-archive <the archive with sha256 ${run.archive.sha256}>\``,
          );
        }
      }
      report();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 250);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
    report();
    return { failed: [...failed].sort(([a], [b]) => a - b).map(([batch, reason]) => ({ batch, reason })), requeued };
  } finally {
    // Each bounded: with Redis gone, close and disconnect can wait for a reply that never comes,
    // and a wait with no timer left lets node exit as if the run had succeeded.
    await Promise.allSettled([timeout(events.close(), 2_000, 'closing'), timeout(queue.close(), 2_000, 'closing')]);
    await Promise.allSettled([timeout(events.disconnect(), 2_000, 'disconnecting'), timeout(queue.disconnect(), 2_000, 'disconnecting')]);
  }
}

function timeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s while ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
