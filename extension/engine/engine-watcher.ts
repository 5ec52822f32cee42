// The one picture of the engine the editor shows: its health and its tags and tasks, as frozen
// EngineViews published to every subscriber (the status bar, the panels, the training
// notifications). The owner of the engine's life tells it when the engine starts, is ready or
// goes; while it runs, it asks for tasks and tags (one request at a time) every BUSY while a task
// is queued or running and every IDLE otherwise, and not at all while the engine is down. So
// tags and training from anywhere (the gallery, a notebook, curl) show up; a failed read is
// published as the engine not answering, never thrown at a subscriber. Whatever the engine
// scored with its trained tags (a folder's scan) is out of date when those change (a training
// finished, a tag was removed, a state restored) or when another run of the engine answers:
// `onDidChangeModels` says so. No `vscode` here.
import type { TagsmithClient, TagSummary } from '../../kernel/client/tagsmith-client';
import { isActiveTask } from '../../kernel/rules';
import type { EngineSnapshot } from '../../webview/protocol';
import { EventSource, type Event } from '../logic/event-source';

export type EngineHealth =
  /** Nothing has needed it yet: it starts with the first Tagsmith command. */
  | { readonly state: 'not-started' }
  | { readonly state: 'starting' }
  | { readonly state: 'ready'; readonly url: string }
  /** Running, as far as its owner knows, but the last read failed. */
  | { readonly state: 'not-answering'; readonly url: string; readonly message: string }
  /** It stopped by itself and is being started again. */
  | { readonly state: 'restarting'; readonly reason: string }
  /** It failed to start, or kept stopping; it stays down until asked again. */
  | { readonly state: 'stopped'; readonly reason: string };

export type EngineDown = Extract<EngineHealth, { state: 'not-started' | 'restarting' | 'stopped' }>;

export interface EngineView {
  readonly health: EngineHealth;
  /** Tags and tasks as last read; undefined before the first read; kept while the engine is down. */
  readonly snapshot?: EngineSnapshot;
}

/** The trained tags an engine serves: each tag with when it was trained. */
export interface TrainedTags {
  readonly tags: readonly { readonly tag: string; readonly trainedAt: string }[];
}

export interface WatcherTiming {
  busyMs: number;
  idleMs: number;
}

export const DEFAULT_TIMING: WatcherTiming = { busyMs: 400, idleMs: 2000 };

interface Reader {
  /** Only a read started after this many reads answers it. */
  after: number;
  resolve: (snapshot: EngineSnapshot) => void;
  reject: (error: Error) => void;
}

export class EngineWatcher {
  private readonly changes: EventSource<EngineView>;
  readonly onDidChange: Event<EngineView>;
  private readonly modelChanges: EventSource<TrainedTags>;
  /**
   * After the first read of each run of the engine, and after every read whose trained tags
   * differ from the last (a tag trained again, removed, restored): fired after `onDidChange`.
   */
  readonly onDidChangeModels: Event<TrainedTags>;
  /** The trained tags as last announced, with the run they were read in. */
  private models?: { run: number; signature: string };
  private current: EngineView = freeze({ health: { state: 'not-started' } });
  /** The running engine's client; undefined while it is down. */
  private client?: TagsmithClient;
  /** Counts the engine's runs, so a read of an earlier run is dropped. */
  private run = 0;
  private timer?: ReturnType<typeof setTimeout>;
  private reading = false;
  private readAgain = false;
  private publishUnchanged = false;
  private readsStarted = 0;
  private readers: Reader[] = [];
  private signature = '';

  constructor(
    private readonly timing: WatcherTiming = DEFAULT_TIMING,
    onListenerError?: (error: unknown) => void,
  ) {
    this.changes = new EventSource(onListenerError);
    this.onDidChange = this.changes.event;
    this.modelChanges = new EventSource(onListenerError);
    this.onDidChangeModels = this.modelChanges.event;
  }

  get view(): EngineView {
    return this.current;
  }

  // ── the engine's life, told by its owner ──

  engineStarting(): void {
    this.stopReading({ state: 'starting' });
  }

  /** The engine answers through `client`: read it now, and keep reading while it runs. */
  engineReady(client: TagsmithClient): void {
    this.stopReading({ state: 'ready', url: client.url });
    this.client = client;
    this.schedule(0);
  }

  engineDown(health: EngineDown): void {
    this.stopReading(health);
  }

  // ── for those who changed something and want it seen at once ──

  /** Reads now (after the read in progress, if any), and publishes what it sees even if unchanged. */
  poke(): void {
    this.publishUnchanged = true;
    if (this.reading) this.readAgain = true;
    else if (this.client) this.schedule(0);
  }

  /** The tags and tasks as read after this call; rejects if the engine is down or does not answer. */
  read(): Promise<EngineSnapshot> {
    if (!this.client) return Promise.reject(new Error(`The Tagsmith engine is not running (${this.current.health.state}).`));
    const reader = new Promise<EngineSnapshot>((resolve, reject) => this.readers.push({ after: this.readsStarted, resolve, reject }));
    this.poke();
    return reader;
  }

  dispose(): void {
    this.stopReading({ state: 'not-started' });
    this.changes.dispose();
    this.modelChanges.dispose();
  }

  private stopReading(health: EngineHealth): void {
    this.run++;
    this.client = undefined;
    clearTimeout(this.timer);
    this.reading = false;
    this.readAgain = false;
    for (const reader of this.readers.splice(0)) reader.reject(new Error('The Tagsmith engine stopped before it answered.'));
    this.publish(health, this.current.snapshot);
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.readOnce(), delayMs);
  }

  private async readOnce(): Promise<void> {
    const client = this.client;
    if (!client || this.reading) return;
    const run = this.run;
    const sequence = ++this.readsStarted;
    this.reading = true;
    const forced = this.publishUnchanged;
    this.publishUnchanged = false;
    let busy = false;
    try {
      // Tasks before tags: a task reads `done` only after its model is saved, so a tag read
      // after a finished task shows it trained.
      const tasks = await client.tasks();
      if (run !== this.run) return;
      const tags = await client.tags();
      if (run !== this.run) return;
      busy = tasks.some(isActiveTask);
      const signature = JSON.stringify([tags, tasks]);
      const changed = forced || signature !== this.signature || !this.current.snapshot;
      this.signature = signature;
      this.publish({ state: 'ready', url: client.url }, changed ? freeze({ tags, tasks }) : this.current.snapshot);
      this.settleReaders(sequence, (reader) => reader.resolve(this.current.snapshot!));
      this.announceModels(run, tags);
    } catch (error) {
      if (run !== this.run) return;
      const message = (error as Error).message;
      this.publish({ state: 'not-answering', url: client.url, message }, this.current.snapshot);
      this.settleReaders(sequence, (reader) => reader.reject(error as Error));
    } finally {
      if (run === this.run) {
        this.reading = false;
        const again = this.readAgain;
        this.readAgain = false;
        this.schedule(again ? 0 : busy ? this.timing.busyMs : this.timing.idleMs);
      }
    }
  }

  private announceModels(run: number, tags: readonly TagSummary[]): void {
    const trained = tags
      .filter((t) => t.trained)
      .map((t) => ({ tag: t.tag, trainedAt: t.trainedAt ?? '' }))
      .sort((a, b) => (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));
    const signature = JSON.stringify(trained);
    if (this.models?.run === run && this.models.signature === signature) return;
    this.models = { run, signature };
    this.modelChanges.fire(freeze({ tags: trained }));
  }

  private settleReaders(sequence: number, settle: (reader: Reader) => void): void {
    const answered = this.readers.filter((r) => r.after < sequence);
    this.readers = this.readers.filter((r) => r.after >= sequence);
    for (const reader of answered) settle(reader);
  }

  /** Publishes a new view if anything in it differs from the current one. */
  private publish(health: EngineHealth, snapshot: EngineSnapshot | undefined): void {
    if (snapshot === this.current.snapshot && JSON.stringify(health) === JSON.stringify(this.current.health)) return;
    this.current = freeze({ health, snapshot });
    this.changes.fire(this.current);
  }
}

/** Freezes a value and everything in it, so no subscriber can change what the others see. */
function freeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) freeze(inner);
  }
  return value;
}
