// One tslab kernel process for one notebook: fork, wait for `ready`, run cells one at a time
// with their outputs streamed, interrupt (message + SIGINT), and kill on dispose. No `vscode`
// here, so it is tested by feeding it cells directly.
import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { CellOutput } from '../../kernel/notebook/cell-executor';
import type { KernelEvent, KernelRequest } from '../../kernel/notebook/kernel-messages';

export type { CellOutput };

const START_TIMEOUT_MS = 60_000;

export interface KernelLaunch {
  /** dist/kernel/notebook-kernel.js */
  scriptPath: string;
  /** The notebook's folder: relative paths and `require` start there. */
  cwd: string;
  /** The engine `tagsmith` is bound to, if any. */
  engine?: { url: string; token?: string };
  log?: (line: string) => void;
}

export class KernelProcess extends EventEmitter<{ exited: [code: number | null, signal: string | null] }> {
  private nextId = 1;
  private readonly waiting = new Map<number, (event: KernelEvent) => void>();
  private exited = false;

  private constructor(private readonly child: ChildProcess, readonly versions: Record<string, string>, readonly tagsmithBound: boolean) {
    super();
    child.on('message', (event: KernelEvent) => {
      if ('id' in event) this.waiting.get(event.id)?.(event);
    });
    child.once('exit', (code, signal) => {
      this.exited = true;
      // Cells still running end as failed; their callers see why.
      for (const [id, deliver] of this.waiting) deliver({ type: 'done', id, ok: false });
      this.waiting.clear();
      this.emit('exited', code, signal);
    });
  }

  static async start(launch: KernelLaunch): Promise<KernelProcess> {
    const child = fork(launch.scriptPath, [], {
      cwd: launch.cwd,
      // The kernel is a plain bundle: no loader flags of the parent (tsx in tests) that would resolve from the notebook's folder.
      execArgv: [],
      env: {
        ...process.env,
        ELECTRON_RUN_AS_NODE: '1',
        TAGSMITH_URL: launch.engine?.url ?? '',
        TAGSMITH_TOKEN: launch.engine?.token ?? '',
      },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    // Output that bypasses the cell console (a native module, process.stdout.write) goes to the log.
    child.stdout!.on('data', (d: Buffer) => launch.log?.(`[kernel] ${d.toString().trimEnd()}`));
    child.stderr!.on('data', (d: Buffer) => launch.log?.(`[kernel] ${d.toString().trimEnd()}`));
    const ready = await new Promise<Extract<KernelEvent, { type: 'ready' }>>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`the notebook kernel did not start within ${START_TIMEOUT_MS / 1000} s`));
      }, START_TIMEOUT_MS);
      child.on('message', (event: KernelEvent) => {
        if (event.type !== 'ready') return;
        clearTimeout(timer);
        resolve(event);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the notebook kernel exited while starting (code ${code})`));
      });
    });
    return new KernelProcess(child, ready.versions, ready.tagsmith);
  }

  get running(): boolean {
    return !this.exited;
  }

  /** Runs a cell; outputs arrive through `onOutput` as they happen; resolves to success. */
  execute(code: string, onOutput: (output: CellOutput) => void): Promise<boolean> {
    if (this.exited) return Promise.resolve(false);
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
    if (this.exited) return;
    this.send({ type: 'interrupt' });
    this.child.kill('SIGINT');
  }

  dispose(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }

  private ask<T extends KernelEvent['type']>(request: Extract<KernelRequest, { id: number }>, answer: T): Promise<Extract<KernelEvent, { type: T }> | undefined> {
    if (this.exited) return Promise.resolve(undefined);
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
