// One run of the engine as a child process: `tagsmith serve` forked on a free port with a fresh
// token, ready when it prints its ready line; a crash reported once with the tail of its stderr.
import crypto from 'node:crypto';
import { TagsmithClient } from '../../kernel/client/tagsmith-client';
import { parseReadyLine, type ReadyLine } from '../../kernel/cli/ready-line';
import { ForkedProcess, type ChildExit } from '../process/forked-process';

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
  /** Folders scans may read (the workspace folders); none: the engine scans nothing. */
  scanRoots?: readonly string[];
  log: (line: string) => void;
}

export class EngineProcess {
  readonly client: TagsmithClient;

  private constructor(
    private readonly child: ForkedProcess<ReadyLine>,
    readonly connection: { url: string; token?: string },
  ) {
    this.client = new TagsmithClient(connection);
  }

  static async start(launch: EngineLaunch): Promise<EngineProcess> {
    const token = launch.port === 0 ? crypto.randomBytes(24).toString('base64url') : undefined;
    const args = ['serve', '--port', String(launch.port), '--state', launch.stateDir];
    if (launch.threads) args.push('--threads', String(launch.threads));
    if (launch.backbone) args.push('--backbone', launch.backbone);
    for (const root of launch.scanRoots ?? []) args.push('--scan-root', root);
    const child = await ForkedProcess.start({
      name: 'the engine',
      script: launch.cliPath,
      args,
      // Under Electron, fork needs ELECTRON_RUN_AS_NODE to run the script as Node; the token stays
      // out of `ps`; the engine stops when its stdin ends, i.e. when the extension host goes.
      // Two malloc arenas: under 16 clients the engine's RSS after 30 s was 348 MB instead of
      // 479 MB with glibc's default, at the same throughput (bench:reliability's load phase).
      env: { MALLOC_ARENA_MAX: '2', ...process.env, ELECTRON_RUN_AS_NODE: '1', TAGSMITH_TOKEN: token ?? '', TAGSMITH_EXIT_ON_STDIN_END: '1' },
      stdin: 'pipe',
      ready: { line: parseReadyLine },
      startTimeoutMs: START_TIMEOUT_MS,
      stopTimeoutMs: STOP_TIMEOUT_MS,
      onOutput: (line, stream) => launch.log(stream === 'stderr' ? `[engine] ${line}` : line),
    });
    return new EngineProcess(child, { url: child.ready.url, token });
  }

  get pid(): number {
    return this.child.pid;
  }

  /** Called once if the engine exits by itself (not through stop()). */
  onCrash(listener: (exit: ChildExit) => void): void {
    this.child.once('exited', (exit) => {
      if (!exit.requested) listener(exit);
    });
  }

  /** SIGTERM, then SIGKILL if it has not gone after a few seconds. */
  async stop(): Promise<void> {
    await this.child.stop();
  }
}
