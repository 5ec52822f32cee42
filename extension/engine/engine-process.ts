// One run of the engine as a child process: forked with a free port and a fresh token, ready
// when it prints its ready line, `exited` fired once with the tail of its stderr.
import { fork, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import { parseReadyLine } from '../../kernel/cli/ready-line';
import { TagsmithClient } from '../../kernel/client/tagsmith-client';

const START_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 5_000;

export interface EngineLaunch {
  cliPath: string;
  stateDir: string;
  /** 0 = a private port with a token; a number = that port without one, for curl/Python users. */
  port: number;
  threads?: number;
  /** One of models.json's models; default its `backbone`. */
  backbone?: string;
  log: (line: string) => void;
}

export class EngineProcess extends EventEmitter<{ exited: [code: number | null, stderrTail: string] }> {
  private child?: ChildProcess;
  private stderrTail = '';
  private stopping = false;

  private constructor(readonly client: TagsmithClient, readonly pid: number, readonly connection: { url: string; token?: string }) {
    super();
  }

  static async start(launch: EngineLaunch): Promise<EngineProcess> {
    const token = launch.port === 0 ? crypto.randomBytes(24).toString('base64url') : undefined;
    const args = ['serve', '--port', String(launch.port), '--state', launch.stateDir];
    if (launch.threads) args.push('--threads', String(launch.threads));
    if (launch.backbone) args.push('--backbone', launch.backbone);
    const child = fork(launch.cliPath, args, {
      // Under Electron, fork needs this to run the script as Node; the token stays out of `ps`.
      // Two malloc arenas: under 16 clients the engine's RSS after 30 s was 348 MB instead of
      // 479 MB with glibc's default, at the same throughput (bench:reliability's load phase).
      env: { MALLOC_ARENA_MAX: '2', ...process.env, ELECTRON_RUN_AS_NODE: '1', TAGSMITH_TOKEN: token ?? '', TAGSMITH_EXIT_ON_STDIN_END: '1' },
      stdio: ['pipe', 'pipe', 'pipe', 'ipc'],
    });
    let stderrTail = '';
    child.stderr!.on('data', (d: Buffer) => {
      const text = d.toString();
      stderrTail = (stderrTail + text).slice(-4000);
      for (const line of text.split('\n')) if (line.trim()) launch.log(`[engine] ${line}`);
    });
    const ready = await new Promise<{ url: string }>((resolve, reject) => {
      let buffered = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`the engine did not start within ${START_TIMEOUT_MS / 1000} s`));
      }, START_TIMEOUT_MS);
      child.stdout!.on('data', (d: Buffer) => {
        buffered += d.toString();
        let newline: number;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          const announced = parseReadyLine(line);
          if (announced) {
            clearTimeout(timer);
            resolve(announced);
          } else if (line.trim()) {
            launch.log(line);
          }
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the engine exited with code ${code} while starting: ${stderrTail.trim().split('\n').slice(-3).join(' ')}`));
      });
    });
    const engine = new EngineProcess(new TagsmithClient({ url: ready.url, token }), child.pid!, { url: ready.url, token });
    engine.child = child;
    engine.stderrTail = stderrTail;
    child.stderr!.on('data', (d: Buffer) => (engine.stderrTail = (engine.stderrTail + d.toString()).slice(-4000)));
    child.once('exit', (code) => {
      if (!engine.stopping) engine.emit('exited', code, engine.stderrTail);
    });
    return engine;
  }

  /** SIGTERM, then SIGKILL if it has not gone after a few seconds. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.stopping = true;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }
}
