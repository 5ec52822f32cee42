// At most `max` tasks running at once, the rest waiting in order: for work whose memory grows
// with the number of tasks in flight (reading, decoding and embedding images).
export type Limit = <T>(task: () => Promise<T>) => Promise<T>;

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
