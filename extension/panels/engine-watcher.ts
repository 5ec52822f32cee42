// Keeps open panels current: polls the engine's tags and tasks (quickly while a task runs,
// slowly otherwise) and reports a snapshot only when it differs from the last one. Samples
// added from the explorer, from curl or from a notebook all show up this way. No `vscode` here.
import type { TagsmithClient } from '../../kernel/client/tagsmith-client';
import type { EngineSnapshot } from '../../webview/protocol';

export interface WatcherTiming {
  busyMs: number;
  idleMs: number;
}

export class EngineWatcher {
  private timer?: ReturnType<typeof setTimeout>;
  private last = '';
  private running = false;
  private stopped = true;

  constructor(
    private readonly client: () => Promise<TagsmithClient>,
    private readonly onChange: (snapshot: EngineSnapshot) => void,
    private readonly timing: WatcherTiming = { busyMs: 400, idleMs: 2000 },
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** Look now (after a change made through a panel), and report even an unchanged snapshot. */
  poke(): void {
    this.last = '';
    if (!this.stopped) this.schedule(0);
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), delayMs);
  }

  private async tick(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    let busy = false;
    try {
      const client = await this.client();
      const [tags, tasks] = await Promise.all([client.tags(), client.tasks()]);
      busy = tasks.some((t) => t.state === 'queued' || t.state === 'running');
      const signature = JSON.stringify([tags, tasks]);
      if (signature !== this.last) {
        this.last = signature;
        this.onChange({ tags, tasks });
      }
    } catch {
      // The engine is restarting or stopped; the controller says so. Try again later.
    } finally {
      this.running = false;
      if (!this.stopped) this.schedule(busy ? this.timing.busyMs : this.timing.idleMs);
    }
  }
}
