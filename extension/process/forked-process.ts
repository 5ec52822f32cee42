// A Node script forked as a child process and owned until it exits: the one way the extension
// starts one (the engine, each notebook's kernel). Ready when the child signals it (a line on
// stdout or an IPC message); failing early, with the tail of its stderr, if it exits or stays
// silent first; `exited` fired once with code, signal and that tail; stopped with SIGTERM, then
// SIGKILL if it is still there after a timeout. No `vscode` here: tested directly.
import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';

const STDERR_KEPT = 4000;
/** How long an exit waits for the last output still in the pipes. */
const OUTPUT_GRACE_MS = 500;

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last few thousand characters the child wrote to stderr. */
  stderrTail: string;
  /** true when it was stopped (stop(), or a start that timed out): not a crash. */
  requested: boolean;
}

/** How the child says it is ready, and what that signal carries (undefined: not the signal). */
export type ReadySignal<Ready> = { line: (line: string) => Ready | undefined } | { message: (message: unknown) => Ready | undefined };

export interface ForkLaunch<Ready> {
  /** For messages: "the engine", "the notebook kernel". */
  name: string;
  script: string;
  args?: string[];
  cwd?: string;
  env: NodeJS.ProcessEnv;
  /** The child's Node flags; default this process's own. */
  execArgv?: string[];
  /** 'pipe': the child sees its stdin end when this process goes, however it goes. */
  stdin: 'pipe' | 'ignore';
  ready: ReadySignal<Ready>;
  startTimeoutMs: number;
  /** After SIGTERM, how long before SIGKILL; default 5 s. */
  stopTimeoutMs?: number;
  /** Every non-empty line the child prints, except its ready line. */
  onOutput?: (line: string, stream: 'stdout' | 'stderr') => void;
}

export class ForkedProcess<Ready> extends EventEmitter<{ exited: [exit: ChildExit]; message: [message: unknown] }> {
  private stderrTail = '';
  private gone = false;
  private stopRequested = false;
  private spawnError?: Error;
  private readyValue?: Ready;
  private readonly exited: Promise<ChildExit>;

  private constructor(
    private readonly child: ChildProcess,
    private readonly stopTimeoutMs: number,
  ) {
    super();
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.gone = true;
        // What it wrote just before it went may still be in the pipes: read that first, but
        // briefly (a grandchild holding the pipes open must not hold up the news).
        const drained = Promise.all(
          [child.stdout, child.stderr].map((stream) =>
            stream && !stream.readableEnded ? new Promise<void>((done) => stream.once('end', done).once('close', done)) : undefined,
          ),
        );
        const grace = new Promise<void>((done) => setTimeout(done, OUTPUT_GRACE_MS).unref());
        void Promise.race([drained, grace]).then(() => {
          const exit: ChildExit = { code, signal, stderrTail: this.stderrTail, requested: this.stopRequested };
          this.emit('exited', exit);
          resolve(exit);
        });
      });
    });
    child.on('message', (message) => this.emit('message', message));
    // Unheard, an 'error' (a failed spawn, a signal that could not be sent) would throw.
    child.on('error', (error) => (this.spawnError ??= error));
  }

  /** Forks the script and resolves once it is ready; rejects, the child gone, if it exits or times out first. */
  static async start<Ready>(launch: ForkLaunch<Ready>): Promise<ForkedProcess<Ready>> {
    const child = fork(launch.script, launch.args ?? [], {
      cwd: launch.cwd,
      env: launch.env,
      ...(launch.execArgv ? { execArgv: launch.execArgv } : {}),
      stdio: [launch.stdin, 'pipe', 'pipe', 'ipc'],
    });
    const forked = new ForkedProcess<Ready>(child, launch.stopTimeoutMs ?? 5000);
    let timer: ReturnType<typeof setTimeout> | undefined;
    forked.readyValue = await new Promise<Ready>((resolve, reject) => {
      const { ready } = launch;
      forked.readLines('stdout', (line) => {
        const signal = 'line' in ready ? ready.line(line) : undefined;
        if (signal !== undefined) resolve(signal);
        else launch.onOutput?.(line, 'stdout');
      });
      forked.readLines('stderr', (line) => launch.onOutput?.(line, 'stderr'));
      if ('message' in ready) {
        const listen = (message: unknown) => {
          const signal = ready.message(message);
          if (signal === undefined) return;
          forked.off('message', listen);
          resolve(signal);
        };
        forked.on('message', listen);
      }
      timer = setTimeout(() => {
        forked.stopRequested = true;
        child.kill('SIGKILL');
        void forked.exited.then(() => reject(new Error(`${launch.name} did not start within ${launch.startTimeoutMs / 1000} s${forked.lastErrorLines()}`)));
      }, launch.startTimeoutMs);
      // A failed spawn has no process to exit.
      child.once('error', (error) => child.pid === undefined && reject(new Error(`${launch.name} could not be started: ${error.message}`, { cause: error })));
      void forked.exited.then((exit) => {
        if (!exit.requested)
          reject(new Error(`${launch.name} exited (${describeExit(exit)}) while starting${forked.lastErrorLines()}`, { cause: forked.spawnError }));
      });
    }).finally(() => clearTimeout(timer));
    return forked;
  }

  /** What the ready signal carried. */
  get ready(): Ready {
    return this.readyValue!;
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return !this.gone;
  }

  send(message: unknown): void {
    if (this.running) this.child.send(message as Parameters<ChildProcess['send']>[0]);
  }

  /** Sends a signal that is not meant to end it (SIGINT interrupts a notebook cell). */
  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  /** SIGTERM, then SIGKILL if it has not gone after the stop timeout; resolves once it has exited. */
  async stop(): Promise<ChildExit> {
    if (this.gone) return this.exited;
    this.stopRequested = true;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), this.stopTimeoutMs);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }

  private readLines(stream: 'stdout' | 'stderr', onLine: (line: string) => void): void {
    let buffered = '';
    const pipe = this.child[stream]!;
    pipe.on('data', (data: Buffer) => {
      const text = data.toString();
      if (stream === 'stderr') this.stderrTail = (this.stderrTail + text).slice(-STDERR_KEPT);
      buffered += text;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline).replace(/\r$/, '');
        buffered = buffered.slice(newline + 1);
        if (line.trim()) onLine(line);
      }
    });
    pipe.on('end', () => {
      if (buffered.trim()) onLine(buffered);
      buffered = '';
    });
  }

  /** ": <its last lines of stderr>", or nothing when it wrote none. */
  private lastErrorLines(): string {
    const tail = lastLines(this.stderrTail);
    return tail ? `: ${tail}` : '';
  }
}

/** "code 3" or "signal SIGKILL". */
export function describeExit(exit: Pick<ChildExit, 'code' | 'signal'>): string {
  return exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
}

/** The last few non-empty lines of a child's output, on one line. */
export function lastLines(text: string, count = 3): string {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .slice(-count)
    .join(' | ');
}
