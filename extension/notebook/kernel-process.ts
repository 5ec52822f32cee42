// One tslab kernel process for one notebook (forked through ForkedProcess, ready on its `ready`
// message): run cells one at a time with their outputs streamed, interrupt (message + SIGINT),
// and stop it on dispose. No `vscode` here, so it is tested by feeding it cells directly.
import { EventEmitter } from 'node:events';
import type { CellOutput } from '../../kernel/notebook/cell-executor';
import type { KernelEvent, KernelRequest } from '../../kernel/notebook/kernel-messages';
import { ForkedProcess, type ChildExit } from '../process/forked-process';

export type { CellOutput, ChildExit };

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 2_000;

type ReadyEvent = Extract<KernelEvent, { type: 'ready' }>;

export interface KernelLaunch {
  /** dist/kernel/notebook-kernel.js */
  scriptPath: string;
  /** The notebook's folder: relative paths and `require` start there. */
  cwd: string;
  /** The engine `tagsmith` is bound to, if any. */
  engine?: { url: string; token?: string };
  log?: (line: string) => void;
}

export class KernelProcess extends EventEmitter<{ exited: [exit: ChildExit] }> {
  private nextId = 1;
  private readonly waiting = new Map<number, (event: KernelEvent) => void>();
  readonly versions: Record<string, string>;
  readonly tagsmithBound: boolean;

  private constructor(private readonly child: ForkedProcess<ReadyEvent>) {
    super();
    this.versions = child.ready.versions;
    this.tagsmithBound = child.ready.tagsmith;
    child.on('message', (message) => {
      const event = message as KernelEvent;
      if ('id' in event) this.waiting.get(event.id)?.(event);
    });
    child.once('exited', (exit) => {
      // Cells still running end as failed; their callers see why.
      for (const [id, deliver] of this.waiting) deliver({ type: 'done', id, ok: false });
      this.waiting.clear();
      this.emit('exited', exit);
    });
  }

  static async start(launch: KernelLaunch): Promise<KernelProcess> {
    const child = await ForkedProcess.start<ReadyEvent>({
      name: 'the notebook kernel',
      script: launch.scriptPath,
      cwd: launch.cwd,
      // The kernel is a plain bundle: no loader flags of the parent (tsx in tests) that would resolve from the notebook's folder.
      execArgv: [],
      env: {
        ...process.env,
        ELECTRON_RUN_AS_NODE: '1',
        TAGSMITH_URL: launch.engine?.url ?? '',
        TAGSMITH_TOKEN: launch.engine?.token ?? '',
      },
      stdin: 'ignore',
      ready: { message: (message) => ((message as KernelEvent).type === 'ready' ? (message as ReadyEvent) : undefined) },
      startTimeoutMs: START_TIMEOUT_MS,
      stopTimeoutMs: STOP_TIMEOUT_MS,
      // Output that bypasses the cell console (a native module, process.stdout.write) goes to the log.
      onOutput: (line) => launch.log?.(`[kernel] ${line}`),
    });
    return new KernelProcess(child);
  }

  get running(): boolean {
    return this.child.running;
  }

  /** Runs a cell; outputs arrive through `onOutput` as they happen; resolves to success. */
  execute(code: string, onOutput: (output: CellOutput) => void): Promise<boolean> {
    if (!this.running) return Promise.resolve(false);
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, (event) => {
        if (event.type === 'output') onOutput(event.output);
        else if (event.type === 'done') {
          this.waiting.delete(id);
          resolve(event.ok);
        }
      });
      this.send({ type: 'execute', id, code });
    });
  }

  complete(code: string, position: number): Promise<{ start: number; end: number; candidates: string[] }> {
    return this.ask({ type: 'complete', id: 0, code, position }, 'completion').then((e) => e ?? { start: position, end: position, candidates: [] });
  }

  hover(code: string, position: number): Promise<string | undefined> {
    return this.ask({ type: 'inspect', id: 0, code, position }, 'hover').then((e) => e?.text);
  }

  /** Stops the running cell: the message rejects a pending await, SIGINT breaks a busy loop. */
  interrupt(): void {
    if (!this.running) return;
    this.send({ type: 'interrupt' });
    this.child.signal('SIGINT');
  }

  /** Ends the kernel: SIGTERM, then SIGKILL if a cell keeps it busy. */
  async dispose(): Promise<void> {
    await this.child.stop();
  }

  private ask<T extends KernelEvent['type']>(
    request: Extract<KernelRequest, { id: number }>,
    answer: T,
  ): Promise<Extract<KernelEvent, { type: T }> | undefined> {
    if (!this.running) return Promise.resolve(undefined);
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve(undefined); // a busy kernel gives no completions rather than a hang
      }, 2000);
      this.waiting.set(id, (event) => {
        if (event.type !== answer) return;
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(event as Extract<KernelEvent, { type: T }>);
      });
      this.send({ ...request, id });
    });
  }

  private send(request: KernelRequest): void {
    this.child.send(request);
  }
}
