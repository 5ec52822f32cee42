// Serialises async work per key (one tag's sample list is rewritten by one caller at a time)
// and lets a whole-state operation (restore) exclude everyone else.
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** `keyOf` maps a name to its lock: names it maps alike share one. */
  constructor(private readonly keyOf: (name: string) => string = (name) => name) {}

  async run<T>(name: string, work: () => Promise<T>): Promise<T> {
    const key = this.keyOf(name);
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(work, work);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await result;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

/** Many readers or one writer; writers wait for readers in flight and block new ones. */
export class ReadWriteLock {
  private readers = 0;
  private writer = false;
  private readonly waiting: { write: boolean; wake: () => void }[] = [];

  async read<T>(work: () => Promise<T>): Promise<T> {
    await this.acquire(false);
    try {
      return await work();
    } finally {
      this.readers--;
      this.pump();
    }
  }

  async write<T>(work: () => Promise<T>): Promise<T> {
    await this.acquire(true);
    try {
      return await work();
    } finally {
      this.writer = false;
      this.pump();
    }
  }

  private acquire(write: boolean): Promise<void> {
    if (this.canEnter(write) && this.waiting.length === 0) {
      this.enter(write);
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push({ write, wake: resolve }));
  }

  private canEnter(write: boolean): boolean {
    return write ? !this.writer && this.readers === 0 : !this.writer;
  }

  private enter(write: boolean): void {
    if (write) this.writer = true;
    else this.readers++;
  }

  private pump(): void {
    while (this.waiting.length > 0 && this.canEnter(this.waiting[0].write)) {
      const next = this.waiting.shift()!;
      this.enter(next.write);
      next.wake();
      if (next.write) break;
    }
  }
}
