// Runs training tasks one at a time, each in a worker thread, and keeps their records: in
// memory for live progress, on disk at every change of state so history survives restarts.
import crypto from 'node:crypto';
import type { Worker } from 'node:worker_threads';
import { asTagsmithError, TagsmithError, type ErrorCode } from '../errors';
import { isActiveTask } from '../rules';
import { startWorker, threadCount } from '../threads';
import type { TrainingData } from '../training/train-tag';
import type { TagModelJson } from '../training/tag-model';
import type { TrainOptions } from '../training/train-options';
import type { TrainingMessage, TrainingRequest } from '../training/training-worker';
import { TASK_MESSAGE_MAX, type TaskRecord } from '../state/record-schemas';

export interface TrainingHost {
  /**
   * `onProgress`, when samples must be embedded first (a state made with another backbone);
   * it throws once the task is cancelled or the engine stops, which ends the loading.
   */
  loadTrainingData(tag: string, options: TrainOptions, onProgress: (stage: string, progress: number) => void): Promise<TrainingData>;
  saveModel(tag: string, model: TagModelJson): Promise<void>;
  saveTask(task: TaskRecord): Promise<void>;
}

type Listener = (task: TaskRecord) => void;

export interface TrainingQueueOptions {
  /** Threads for a task's fits, its worker included; 0 or none: every core (as for inference). */
  threads?: number;
}

export class TrainingQueue {
  /** `TrainingQueueOptions.threads`, read as each task starts (`tagsmith serve --threads` sets it). */
  threads: number | undefined;
  private readonly tasks = new Map<string, TaskRecord>();
  private readonly pending: string[] = [];
  private running?: { id: string; worker?: Worker; cancelled?: boolean };
  private readonly listeners = new Set<Listener>();
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly host: TrainingHost,
    options: TrainingQueueOptions = {},
  ) {
    this.threads = options.threads;
  }

  /**
   * Loads history. Tasks that were queued or running when the process died must have been
   * settled first (state/generation-loader.ts saves them as interrupted).
   */
  restore(records: TaskRecord[]): void {
    this.tasks.clear();
    for (const record of records) this.tasks.set(record.task_id, { ...record });
  }

  /** Queues a task; its record is on disk before this returns, so an answered task id survives a crash. */
  async enqueue(tag: string, options: TrainOptions): Promise<TaskRecord> {
    const task: TaskRecord = {
      name: 'tagsmith-task',
      formatVersion: 1,
      task_id: crypto.randomUUID(),
      tag,
      options,
      state: 'queued',
      progress: 0,
      createdAt: new Date().toISOString(),
    };
    await this.host.saveTask({ ...task });
    this.tasks.set(task.task_id, task);
    this.pending.push(task.task_id);
    const queued = { ...task };
    void this.pump();
    return queued;
  }

  status(taskId: string): TaskRecord {
    const task = this.tasks.get(taskId);
    if (!task) throw new TagsmithError('unknown_task', `There is no task ${JSON.stringify(taskId)}.`);
    return { ...task };
  }

  list(tag?: string): TaskRecord[] {
    return [...this.tasks.values()]
      .filter((t) => tag === undefined || t.tag === tag)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt))
      .map((t) => ({ ...t }));
  }

  get busy(): boolean {
    return this.running !== undefined || this.pending.length > 0;
  }

  /** Stops a queued or running task; it ends as failed with code `cancelled`. */
  async cancel(taskId: string): Promise<TaskRecord> {
    const task = this.status(taskId);
    if (!isActiveTask(task)) return task;
    const index = this.pending.indexOf(taskId);
    if (index >= 0) {
      this.pending.splice(index, 1);
      await this.finish(taskId, { state: 'failed', error: { code: 'cancelled', message: 'The task was cancelled.' } });
    } else if (this.running?.id === taskId) {
      // Still loading samples (no worker yet): the loading stops at its next progress report.
      this.running.cancelled = true;
      await this.running.worker?.terminate();
    }
    return this.status(taskId);
  }

  onChange(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves when no task is queued or running. */
  whenIdle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Cancels everything (used at shutdown); records end as `interrupted`. */
  async stop(): Promise<void> {
    for (const id of this.pending.splice(0)) {
      await this.finish(id, { state: 'failed', error: { code: 'interrupted', message: 'The engine was shut down before this task ran.' } });
    }
    if (this.running) {
      this.stopping = true;
      await this.running.worker?.terminate();
    }
    await this.whenIdle();
  }

  private stopping = false;

  private async pump(): Promise<void> {
    if (this.running || this.pending.length === 0) {
      if (!this.busy) this.notifyIdle();
      return;
    }
    const id = this.pending.shift()!;
    this.running = { id };
    const task = this.tasks.get(id)!;
    let outcome: Partial<TaskRecord>;
    try {
      await this.update(id, { state: 'running', stage: 'loading samples', startedAt: new Date().toISOString() }, true);
      const data = await this.host.loadTrainingData(task.tag, task.options, (stage, progress) => {
        this.throwIfEnded();
        void this.update(id, { stage, progress }, false);
      });
      this.throwIfEnded();
      const model = await this.runWorker(id, { data, options: task.options, threads: threadCount(this.threads) });
      await this.update(id, { stage: 'saving' }, false);
      await this.host.saveModel(task.tag, model);
      outcome = { state: 'done', stage: 'done', progress: 1, metrics: model.metrics };
    } catch (error) {
      const e = asTagsmithError(error);
      outcome = { state: 'failed', error: { code: e.code, message: e.message.slice(0, TASK_MESSAGE_MAX) } };
    }
    // Idle before the outcome shows: a client that reads "done" may restore a state at once
    // (set_state refuses while busy).
    this.running = undefined;
    await this.finish(id, outcome);
    void this.pump();
  }

  /** Between steps of a running task: has it been cancelled, or is the engine stopping? */
  private throwIfEnded(): void {
    if (this.stopping) throw new TagsmithError('interrupted', 'The engine was shut down while this task ran.');
    if (this.running?.cancelled) throw new TagsmithError('cancelled', 'The task was cancelled.');
  }

  private runWorker(id: string, request: TrainingRequest): Promise<TagModelJson> {
    return new Promise((resolve, reject) => {
      const worker = startWorker('training-worker');
      this.running!.worker = worker;
      let settled = false;
      worker.on('message', (message: TrainingMessage) => {
        if (message.kind === 'progress') {
          void this.update(id, { stage: message.stage, progress: message.progress }, false);
        } else if (message.kind === 'done') {
          settled = true;
          resolve(message.model);
          void worker.terminate();
        } else {
          settled = true;
          reject(new TagsmithError(message.code as ErrorCode, message.message));
          void worker.terminate();
        }
      });
      worker.on('error', (error) => {
        settled = true;
        reject(error);
      });
      worker.on('exit', () => {
        if (settled) return;
        reject(
          this.stopping
            ? new TagsmithError('interrupted', 'The engine was shut down while this task ran.')
            : new TagsmithError('cancelled', 'The task was cancelled.'),
        );
      });
      worker.postMessage(request);
    });
  }

  private async update(id: string, patch: Partial<TaskRecord>, persist: boolean): Promise<void> {
    const task = this.tasks.get(id);
    if (!task) return;
    // On disk before it shows: a client that reads "done" and archives the state at once
    // (/get_state, then replicas) must get the done record, not the running one it replaces.
    if (persist) await this.persist({ ...task, ...patch });
    Object.assign(task, patch);
    for (const listener of this.listeners) listener({ ...task });
  }

  private async finish(id: string, patch: Partial<TaskRecord>): Promise<void> {
    await this.update(id, { ...patch, finishedAt: new Date().toISOString() }, true);
  }

  private async persist(task: TaskRecord): Promise<void> {
    try {
      await this.host.saveTask({ ...task });
    } catch {
      // History is best effort (the state may be swapped under a finished task); the live
      // record in memory still answers /status.
    }
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const wake of waiters) wake();
  }
}
