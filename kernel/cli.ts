#!/usr/bin/env node
// The `tagsmith` command. `features` embeds images and prints one JSON line per file;
// `serve` runs the HTTP API (see serve-command.ts).
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runFeaturesCommand } from './cli/features-command';
import { runPredictCommand } from './cli/predict-command';
import { defaultStateDir, MAX_UPLOAD, runServeCommand } from './cli/serve-command';
import { DEFAULT_HOST, DEFAULT_MAX_UPLOAD_MB, DEFAULT_PORT } from './rules';

const USAGE = `usage:
  tagsmith serve [--host ${DEFAULT_HOST}] [--port ${DEFAULT_PORT}] [--state DIR] [--token T] [--threads N]
                 [--allow-origin URL]... [--max-upload-mb ${DEFAULT_MAX_UPLOAD_MB}] [--backbone ID] [--scan-root DIR]...
      serve the HTTP API (state: $TAGSMITH_STATE or ~/.tagsmith/state; token also from $TAGSMITH_TOKEN);
      POST /scans reads folders under the --scan-root folders only
  tagsmith predict [--state DIR] [--tag T]... [--format jsonl|csv] [--applies-only] <image or folder>...
      apply the trained tags to images: one record per image (path, each tag's score, threshold,
      whether it applies) as each is done; works beside a running \`tagsmith serve\` on the same state
  tagsmith features [--threads N] [--backbone ID] <image or folder>...
      print features and nsfw scores as JSON lines

  --backbone: one of models/models.json's models (also $TAGSMITH_BACKBONE):
      mobilenet_v2_140_int8_flip320 (default) int8 network, 320-pixel crop and its mirror image
      mobilenet_v2_140_int8                   int8 network, one 288-pixel crop: about 2× faster
      mobilenet_v2_140_flip320                the fp32 network (the default before), same views
      mobilenet_v2_140                        the fp32 network, one 288-pixel crop
`;

function positiveInteger(name: string, value: string | undefined, fallback: number | undefined): number | undefined {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a whole number; got ${value}`);
  return n;
}

/**
 * `--max-upload-mb`, 1 to the archive's per-file limit: a larger sample could be stored but
 * would make /get_state archives that /set_state refuses.
 */
function maxUploadOption(value: string | undefined): number {
  const mb = positiveInteger('max-upload-mb', value, DEFAULT_MAX_UPLOAD_MB)!;
  if (mb < 1 || mb > MAX_UPLOAD / 2 ** 20) {
    throw new Error(`--max-upload-mb must be between 1 and ${MAX_UPLOAD / 2 ** 20} (a state archive holds files of at most ${MAX_UPLOAD / 2 ** 20} MB); got ${value}`);
  }
  return mb * 2 ** 20;
}

/** `--backbone`, else `$TAGSMITH_BACKBONE`, else the manifest's default (undefined). */
function backboneOption(value: string | undefined): string | undefined {
  return value ?? (process.env.TAGSMITH_BACKBONE || undefined);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve': {
      const { values } = parseArgs({
        args: rest,
        options: {
          host: { type: 'string', default: DEFAULT_HOST },
          port: { type: 'string', default: String(DEFAULT_PORT) },
          state: { type: 'string' },
          token: { type: 'string' },
          threads: { type: 'string' },
          'allow-origin': { type: 'string', multiple: true, default: [] },
          'max-upload-mb': { type: 'string' },
          backbone: { type: 'string' },
          'scan-root': { type: 'string', multiple: true, default: [] },
        },
      });
      return runServeCommand({
        scanRoots: values['scan-root']!.map((root) => path.resolve(root)),
        host: values.host!,
        port: positiveInteger('port', values.port, DEFAULT_PORT)!,
        stateDir: values.state ? path.resolve(values.state) : defaultStateDir(),
        token: values.token ?? (process.env.TAGSMITH_TOKEN || undefined),
        threads: positiveInteger('threads', values.threads, undefined),
        backbone: backboneOption(values.backbone),
        allowedOrigins: values['allow-origin']!,
        maxUploadBytes: maxUploadOption(values['max-upload-mb']),
      });
    }
    case 'predict': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          state: { type: 'string' },
          tag: { type: 'string', multiple: true, default: [] },
          format: { type: 'string', default: 'jsonl' },
          'applies-only': { type: 'boolean', default: false },
          threads: { type: 'string' },
          backbone: { type: 'string' },
        },
      });
      if (values.format !== 'jsonl' && values.format !== 'csv') throw new Error(`--format must be jsonl or csv; got ${values.format}`);
      return runPredictCommand(positionals, {
        stateDir: values.state ? path.resolve(values.state) : defaultStateDir(),
        tags: values.tag!,
        format: values.format,
        appliesOnly: values['applies-only']!,
        threads: positiveInteger('threads', values.threads, undefined),
        backbone: backboneOption(values.backbone),
      });
    }
    case 'features': {
      const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { threads: { type: 'string' }, backbone: { type: 'string' } } });
      return runFeaturesCommand(positionals, {
        threads: positiveInteger('threads', values.threads, undefined),
        backbone: backboneOption(values.backbone),
      });
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
