// Bounded concurrency for work whose memory grows with the number of tasks in flight
// (reading, decoding and embedding images).
export type Limit = <T>(task: () => Promise<T>) => Promise<T>;

/** At most `max` tasks running at once, the rest waiting in order. */
export function concurrencyLimit(max: number): Limit {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async (task) => {
    if (running >= max) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      return await task();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}

/**
 * Tasks that each hold `weight` (bytes, say) of a shared `capacity` while they run, started in
 * the order they ask: one waits until what runs leaves room for it. A task heavier than the
 * whole capacity runs alone rather than never.
 */
export function weightedLimit(capacity: number): <T>(weight: number, task: () => Promise<T>) => Promise<T> {
  let used = 0;
  const waiting: { weight: number; start: () => void }[] = [];
  const fits = (weight: number) => used === 0 || used + weight <= capacity;
  const wake = () => {
    while (waiting.length > 0 && fits(waiting[0].weight)) {
      const next = waiting.shift()!;
      used += next.weight;
      next.start();
    }
  };
  return async (weight, task) => {
    if (waiting.length === 0 && fits(weight)) used += weight;
    else await new Promise<void>((start) => waiting.push({ weight, start }));
    try {
      return await task();
    } finally {
      used -= weight;
      wake();
    }
  };
}

export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/**
 * Runs `task` over `items`, at most `max` at once, and yields every outcome in input order.
 * Each task's promise is settled the moment it is started, so a later task failing while an
 * earlier one is still awaited is an outcome, never an unhandled rejection (which ends the
 * process). At most `2 × max` finished outcomes wait behind a slow earlier one.
 */
/** The outcome of a task that never ran because its reader had stopped (read by no one). */
const NOT_RUN = new Error('not run: the reader stopped');

export async function* settledInOrder<I, T>(items: readonly I[], max: number, task: (item: I) => Promise<T>): AsyncGenerator<Settled<T>> {
  const limit = concurrencyLimit(max);
  let stopped = false;
  const start = (item: I): Promise<Settled<T>> =>
    limit(() => (stopped ? Promise.reject(NOT_RUN) : task(item))).then(
      (value) => ({ ok: true, value }),
      (error: unknown) => ({ ok: false, error }),
    );
  const window: Promise<Settled<T>>[] = [];
  let next = 0;
  while (next < items.length && window.length < 2 * max) window.push(start(items[next++]));
  try {
    while (window.length > 0) {
      const outcome = await window.shift()!;
      if (next < items.length) window.push(start(items[next++]));
      yield outcome;
    }
  } finally {
    // A consumer that stops early (a cancelled scan) starts nothing more, not even the tasks
    // lined up in the window waiting for a slot, and returns only once those already running
    // have finished: no work goes on behind its back.
    stopped = true;
    await Promise.all(window);
  }
}
