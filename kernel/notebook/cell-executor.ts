// Runs TypeScript notebook cells with tslab's converter and executor: top-level await, state
// kept between cells, console output and rich displays sent as they happen, TypeScript errors
// with their line. Made by a factory that takes where output goes, so it is tested without
// VS Code. Cells run one at a time, in the order they were asked for.
import { format } from 'node:util';

export type CellOutput = { kind: 'stdout' | 'stderr'; text: string } | { kind: 'display'; data: Record<string, string>; update: boolean; displayId?: string };

export interface CellExecutor {
  /** Runs a cell; resolves to whether it succeeded (errors were sent as stderr). */
  execute(code: string, onOutput: (output: CellOutput) => void): Promise<boolean>;
  /** Stops the running cell: a pending await is rejected; a busy loop is broken by SIGINT (see the kernel process). */
  interrupt(): void;
  complete(code: string, position: number): { start: number; end: number; candidates: string[] };
  inspect(code: string, position: number): string | undefined;
  close(): void;
}

interface TslabExecutor {
  execute(src: string): Promise<boolean>;
  interrupt(): void;
  complete(src: string, position: number): { start: number; end: number; candidates: string[] };
  inspect(src: string, position: number): { displayParts?: { text: string }[]; documentation?: { text: string }[] } | undefined;
  close(): void;
}

interface TslabJupyterModule {
  lastWriteDisplayData: ((data: { data: Record<string, string>; transient?: { display_id?: string } }, update: boolean) => void) | null;
}

export function createCellExecutor(rootDir: string): CellExecutor {
  // tslab is loaded at run time: it brings its own TypeScript and is only needed here.
  const { createConverter } = require('tslab/dist/converter') as { createConverter(options?: object): { close(): void } };
  const { createExecutor } = require('tslab/dist/executor') as { createExecutor(root: string, convs: object, console: object): TslabExecutor };
  const jupyter = require('tslab/dist/jupyter') as TslabJupyterModule;

  // Output goes to the cell that runs, or (like IPython) to the last one that ran, for timers
  // that fire after their cell ended.
  let sink: ((output: CellOutput) => void) | undefined;
  const send = (output: CellOutput) => sink?.(output);
  // Cells print through the global console and process.stdout/stderr: capture those streams.
  const capture = (kind: 'stdout' | 'stderr') =>
    ((chunk: string | Uint8Array, encoding?: unknown, callback?: unknown) => {
      send({ kind, text: typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8') });
      const done = typeof encoding === 'function' ? encoding : callback;
      if (typeof done === 'function') done();
      return true;
    }) as typeof process.stdout.write;
  process.stdout.write = capture('stdout');
  process.stderr.write = capture('stderr');
  const converter = createConverter({});
  const executor = createExecutor(
    rootDir,
    { node: converter, browser: converter, close: () => converter.close() },
    {
      log: (...args: unknown[]) => send({ kind: 'stdout', text: `${format(...args)}\n` }),
      error: (...args: unknown[]) => send({ kind: 'stderr', text: `${format(...args)}\n` }),
    },
  );
  // `tslab.display.html(…)` (and Tagsmith's show… helpers) end up here.
  jupyter.lastWriteDisplayData = (message, update) => send({ kind: 'display', data: message.data, update, displayId: message.transient?.display_id });

  let queue: Promise<unknown> = Promise.resolve();
  return {
    execute(code, onOutput) {
      const run = queue.then(async () => {
        sink = onOutput;
        return executor.execute(code);
      });
      queue = run.catch(() => undefined);
      return run;
    },
    interrupt: () => executor.interrupt(),
    complete: (code, position) => executor.complete(code, position),
    inspect(code, position) {
      const info = executor.inspect(code, position);
      if (!info) return undefined;
      const signature = (info.displayParts ?? []).map((p) => p.text).join('');
      const docs = (info.documentation ?? []).map((p) => p.text).join('');
      return docs ? `${signature}\n\n${docs}` : signature;
    },
    close: () => executor.close(),
  };
}
