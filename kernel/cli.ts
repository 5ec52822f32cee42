#!/usr/bin/env node
// The `tagsmith` command. `features` embeds images and prints one JSON line per file;
// `serve` runs the HTTP API (see serve-command.ts).
import { parseArgs } from 'node:util';
import { runFeaturesCommand } from './cli/features-command';

const USAGE = `usage:
  tagsmith features [--threads N] <image or folder>...   print features and nsfw scores as JSON lines
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'features': {
      const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { threads: { type: 'string' } } });
      return runFeaturesCommand(positionals, { threads: values.threads === undefined ? undefined : Number(values.threads) });
    }
    case undefined:
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`tagsmith: unknown command ${command}\n${USAGE}`);
      return 2;
  }
}

// `tagsmith features … | head` closes the pipe early; that is the reader's choice, not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (error: unknown) => {
    process.stderr.write(`tagsmith: ${(error as Error).message}\n`);
    process.exitCode = 1;
  },
);
