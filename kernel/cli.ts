#!/usr/bin/env node
// The `tagsmith` command. `features` embeds images and prints one JSON line per file;
// `serve` runs the HTTP API (see serve-command.ts).
import fs from 'node:fs/promises';
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
  tagsmith serve --redis URL --state-archive FILE [--batch 32] [--redis-timeout 60] [--scan-root DIR]... …
      the same engine, its folder scans (POST /scans) embedded by the \`tagsmith worker\`s of that archive
      (the same task, progress, cancel and results; paths must read the same on every machine)
  tagsmith serve --read-only [--state-archive FILE | --state DIR] [--host …] [--port …] [--token T] …
      a replica: serves every read (predictions, tags, samples, tasks) of an archive or a state folder,
      refuses every write (read_only), takes no lock; POST /reload or SIGHUP reads the snapshot again
  tagsmith predict [--state DIR] [--tag T]... [--format jsonl|csv] [--applies-only] <image or folder>...
      apply the trained tags to images: one record per image (path, each tag's score, threshold,
      whether it applies) as each is done; works beside a running \`tagsmith serve\` on the same state
  tagsmith predict --redis URL --state-archive FILE [--tag T]... [--format jsonl|csv] [--applies-only]
                   [--batch 32] [--runs-dir DIR] [--redis-timeout 60] <image or folder>...
  tagsmith predict --redis URL --resume RUN_ID [--runs-dir DIR]
      the same records, the images embedded and scored by \`tagsmith worker\`s (paths must read the same
      on every machine); progress on stderr; a run whose coordinator stopped is resumed by its id
      (runs: ~/.tagsmith/runs)
  tagsmith worker --redis URL --state-archive FILE [--concurrency 2] [--threads N] [--backbone ID]
                  [--cache DIR] [--lock-seconds 30] [--scan-root DIR]...
      take scan batches of that archive from Redis (features cached in ~/.tagsmith/worker-cache)
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
    throw new Error(
      `--max-upload-mb must be between 1 and ${MAX_UPLOAD / 2 ** 20} (a state archive holds files of at most ${MAX_UPLOAD / 2 ** 20} MB); got ${value}`,
    );
  }
  return mb * 2 ** 20;
}

/** A duration option in seconds (fractions allowed), as milliseconds. */
function seconds(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a number of seconds; got ${value}`);
  return Math.round(n * 1000);
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
          'read-only': { type: 'boolean', default: false },
          'state-archive': { type: 'string' },
          redis: { type: 'string' },
          batch: { type: 'string' },
          'redis-timeout': { type: 'string' },
        },
      });
      return runServeCommand({
        // Only the flag: TAGSMITH_REDIS, exported for `predict` and `worker`, must not turn every
        // engine (the extension's too, which inherits the environment) into a coordinator.
        redisUrl: values.redis,
        batchSize: positiveInteger('batch', values.batch, undefined),
        redisTimeoutMs: seconds('redis-timeout', values['redis-timeout']),
        readOnly: values['read-only'],
        stateArchive: values['state-archive'] && path.resolve(values['state-archive']),
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
          redis: { type: 'string' },
          'state-archive': { type: 'string' },
          resume: { type: 'string' },
          'runs-dir': { type: 'string' },
          batch: { type: 'string' },
          'redis-timeout': { type: 'string' },
        },
      });
      if (values.format !== 'jsonl' && values.format !== 'csv') throw new Error(`--format must be jsonl or csv; got ${values.format}`);
      const redis = values.redis ?? (process.env.TAGSMITH_REDIS || undefined);
      if (redis) {
        // BullMQ and its Redis client are loaded only by the commands that use them (`serve` only with --redis).
        const { DEFAULT_RUNS_DIR, runDistributedPredict } = await import('./cli/distributed-predict');
        return runDistributedPredict(positionals, {
          redisUrl: redis,
          archive: values['state-archive'] && path.resolve(values['state-archive']),
          resume: values.resume,
          runsDir: values['runs-dir'] ? path.resolve(values['runs-dir']) : DEFAULT_RUNS_DIR,
          tags: values.tag!,
          format: values.format,
          appliesOnly: values['applies-only']!,
          batchSize: positiveInteger('batch', values.batch, undefined),
          backbone: backboneOption(values.backbone),
          redisTimeoutMs: seconds('redis-timeout', values['redis-timeout']),
        });
      }
      if (values['state-archive'] || values.resume)
        throw new Error('--state-archive and --resume go with --redis (a distributed run); a local run reads --state DIR');
      return runPredictCommand(positionals, {
        stateDir: values.state ? path.resolve(values.state) : defaultStateDir(),
        tags: values.tag!,
        format: values.format,
        appliesOnly: values['applies-only']!,
        threads: positiveInteger('threads', values.threads, undefined),
        backbone: backboneOption(values.backbone),
      });
    }
    case 'worker': {
      const { values } = parseArgs({
        args: rest,
        options: {
          redis: { type: 'string' },
          'state-archive': { type: 'string' },
          concurrency: { type: 'string' },
          threads: { type: 'string' },
          backbone: { type: 'string' },
          cache: { type: 'string' },
          'lock-seconds': { type: 'string' },
          'scan-root': { type: 'string', multiple: true, default: [] },
        },
      });
      const redis = values.redis ?? (process.env.TAGSMITH_REDIS || undefined);
      const archive = values['state-archive'] ?? (process.env.TAGSMITH_STATE_ARCHIVE || undefined);
      if (!redis || !archive) {
        process.stderr.write(
          'tagsmith worker: give --redis URL and --state-archive FILE (or $TAGSMITH_REDIS, $TAGSMITH_STATE_ARCHIVE): the queue to take batches from and the archive whose tags score them\n',
        );
        return 2;
      }
      const concurrency = positiveInteger('concurrency', values.concurrency, 2)!;
      if (concurrency < 1) throw new Error('--concurrency must be at least 1');
      const within = await Promise.all(values['scan-root']!.map((root) => fs.realpath(path.resolve(root))));
      const { runWorkerCommand } = await import('./cli/worker-command');
      const { DEFAULT_WORKER_CACHE } = await import('./cluster/scan-worker');
      return runWorkerCommand({
        redisUrl: redis,
        archive: path.resolve(archive),
        cacheDir: values.cache ? path.resolve(values.cache) : DEFAULT_WORKER_CACHE,
        concurrency,
        threads: positiveInteger('threads', values.threads, undefined),
        backbone: backboneOption(values.backbone),
        lockMs: seconds('lock-seconds', values['lock-seconds']),
        within: within.length > 0 ? within : undefined,
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

let settled = false;
main(process.argv.slice(2)).then(
  (code) => {
    settled = true;
    process.exitCode = code;
  },
  (error: unknown) => {
    settled = true;
    process.stderr.write(`tagsmith: ${(error as Error).message}\n`);
    process.exitCode = 1;
  },
);
// Node exits when nothing is left to wait for, even if a command is still waiting on a promise
// that can never settle (a client whose server went away): that must not read as success.
// (beforeExit: only when the loop ran dry, not on an explicit process.exit.)
process.once('beforeExit', () => {
  if (settled) return;
  process.stderr.write('tagsmith: stopped before the command finished (it was waiting on something that can no longer answer); this is a bug\n');
  process.exitCode = 70;
});
