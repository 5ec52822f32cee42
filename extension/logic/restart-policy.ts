// When a crashed engine is started again: at once the first time, then with growing pauses,
// and not at all after too many crashes in a short time (something is wrong; say so once).
export interface RestartPolicyOptions {
  delaysMs: number[];
  /** Crashes within this window count towards giving up. */
  windowMs: number;
  maxCrashesInWindow: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicyOptions = { delaysMs: [0, 1000, 3000, 10000], windowMs: 120_000, maxCrashesInWindow: 5 };

export class RestartPolicy {
  private crashes: number[] = [];

  constructor(private readonly options = DEFAULT_RESTART_POLICY) {}

  /** Records a crash at `now`; returns the pause before restarting, or undefined to give up. */
  onCrash(now: number): number | undefined {
    this.crashes = [...this.crashes.filter((t) => now - t < this.options.windowMs), now];
    if (this.crashes.length > this.options.maxCrashesInWindow) return undefined;
    return this.options.delaysMs[Math.min(this.crashes.length - 1, this.options.delaysMs.length - 1)];
  }

  /** A healthy start after crashes: the next crash is treated as the first again. */
  reset(): void {
    this.crashes = [];
  }
}
