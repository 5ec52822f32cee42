// Waiting in tests: for an event where there is one, for a condition where there is none, and
// always with a limit, so a hang fails with what was awaited instead of running forever. The
// limits are hang guards, never what a test measures.

/** `work`, or a rejection naming `what` once `limitMs` have passed. */
export function within<T>(work: Promise<T>, limitMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not so after ${limitMs} ms`)), limitMs);
  });
  return Promise.race([work, limit]).finally(() => clearTimeout(timer));
}

/** Waits until `check` holds, asking again every `intervalMs`; fails after `limitMs`. For what sends no event (files on disk, another process). */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, limitMs = 30_000, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: still not so after ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * The first value `subscribe` delivers that `holds`, within `limitMs`. `subscribe` registers a
 * listener and returns the function that removes it; the listener is removed either way.
 */
export function firstEvent<T>(
  subscribe: (listener: (value: T) => void) => () => void,
  holds: (value: T) => boolean,
  what: string,
  limitMs = 60_000,
): Promise<T> {
  let off: (() => void) | undefined;
  const seen = new Promise<T>((resolve) => {
    off = subscribe((value) => {
      if (holds(value)) resolve(value);
    });
  });
  return within(seen, limitMs, what).finally(() => off?.());
}

/** A gate a test opens: `wait()` resolves once `open()` is called (at once if it already was). */
export class Gate {
  private opened = false;
  private readonly waiters: (() => void)[] = [];

  wait(): Promise<void> {
    return this.opened ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }

  open(): void {
    this.opened = true;
    for (const wake of this.waiters.splice(0)) wake();
  }
}
