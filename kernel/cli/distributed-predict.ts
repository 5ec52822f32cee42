// `tagsmith predict --redis URL --state-archive FILE [--tag T]… [--format jsonl|csv] <folders…>`:
// the local scan's output (the same records, in the same order), with the images embedded and
// scored by `tagsmith worker`s on other machines. This process walks the folders, cuts the walk
// into batches, feeds them to BullMQ and prints each batch's records once every batch before it
// is printed; progress goes to stderr. `--resume <run id>` picks up a run whose coordinator
// stopped, and prints the whole output again from its first record.
import os from 'node:os';
import path from 'node:path';
import { readManifest } from '../../models/manifest';
import { asTagsmithError, TagsmithError } from '../errors';
import { upgradeStoredCues } from '../engine/cue-upgrade';
import { csvHeader, csvRow, jsonLine, type ImageCalls, type TableFormat } from '../export/scan-table';
import { findModelsDir } from '../features/models-dir';
import { findImageFiles } from '../images/image-files';
import { checkRedisUrl, shownRedisUrl } from '../cluster/redis-connection';
import { coordinateRun, type RunProgress } from '../cluster/scan-coordinator';
import { cutBatches, DEFAULT_BATCH, newRunId, queueName, type BatchImage } from '../cluster/scan-jobs';
import { OrderedRecords, RunLedger, type RunManifest } from '../cluster/run-ledger';
import { readArchiveModels, sha256File } from '../state/archive-file';

export interface DistributedPredictOptions {
  redisUrl: string;
  /** The archive the workers score with (required for a new run; checked against the run's on resume). */
  archive?: string;
  resume?: string;
  runsDir: string;
  tags: string[];
  format: TableFormat;
  appliesOnly: boolean;
  batchSize?: number;
  backbone?: string;
  /** How long Redis may be unreachable before the run stops (resumable). */
  redisTimeoutMs?: number;
}

export const DEFAULT_RUNS_DIR = path.join(os.homedir(), '.tagsmith', 'runs');

export async function runDistributedPredict(inputs: string[], options: DistributedPredictOptions): Promise<number> {
  const say = progressLine();
  let ledger: RunLedger;
  try {
    checkRedisUrl(options.redisUrl);
    ledger = options.resume ? await resumeRun(inputs, options) : await newRun(inputs, options);
  } catch (error) {
    process.stderr.write(`tagsmith predict: ${asTagsmithError(error).message}\n`);
    return error instanceof TagsmithError && error.code === 'invalid_option' ? 2 : 1;
  }
  const run = ledger.manifest;
  const resumeHint = `tagsmith predict --redis ${shownRedisUrl(options.redisUrl)} --resume ${run.id}${options.runsDir === DEFAULT_RUNS_DIR ? '' : ` --runs-dir ${options.runsDir}`}`;
  say.line(
    `run ${run.id}: ${run.batches.reduce((n, b) => n + b.length, 0)} images in ${run.batches.length} batches for ${run.queue}; if this stops, resume with: ${resumeHint}`,
  );

  let images = 0;
  let skipped = 0;
  const embedded = { network: 0, cache: 0 };
  const shown = (p: string) => path.relative(run.cwd, p) || p;
  if (run.format === 'csv') process.stdout.write(csvHeader(run.tags, run.nsfwLabels));
  for (const s of run.walkSkipped) {
    skipped++;
    say.line(`${shown(s.path)}: ${s.reason}`);
  }
  const records = new OrderedRecords(
    ledger.batches,
    (batch) => ledger.result(batch),
    (image) => {
      images++;
      const row = recordOf(image, run, shown);
      if (run.appliesOnly && !Object.values(row.tags).some((call) => call.applies)) return;
      say.clear();
      process.stdout.write(run.format === 'csv' ? csvRow(row, run.tags, run.nsfwLabels) : jsonLine(row));
    },
    (s) => {
      skipped++;
      say.line(`${shown(s.path)}: ${s.reason}`);
    },
  );
  const count = (batch: number) => {
    const result = ledger.result(batch);
    if (result) {
      embedded.network += result.embedded;
      embedded.cache += result.known;
    }
  };
  for (let i = 0; i < ledger.batches; i++) count(i);
  records.flush();

  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const outcome = await coordinateRun({
      redisUrl: options.redisUrl,
      ledger,
      redisTimeoutMs: options.redisTimeoutMs,
      signal: controller.signal,
      onAnswer: (batch) => {
        count(batch);
        records.flush();
      },
      onProgress: (p) => say.progress(progressText(p)),
      log: (line) => say.line(line),
    });
    records.flush();
    say.clear();
    if (outcome.failed.length > 0) {
      for (const f of outcome.failed)
        say.line(`batch ${f.batch} (${run.batches[f.batch].length} images from ${shown(run.batches[f.batch][0])}) failed: ${f.reason}`);
      const unwritten = run.batches.slice(records.position).reduce((n, b) => n + b.length, 0);
      say.line(
        `${outcome.failed.length} of ${run.batches.length} batches failed: the output stops before ${shown(run.batches[records.position][0])} (${unwritten} images not written). ` +
          `Everything else is kept: fix the cause and resume with: ${resumeHint} (it prints the whole output again).`,
      );
      return 1;
    }
    say.line(
      `${images} images (${embedded.network} embedded, ${embedded.cache} from the cache), ${skipped} skipped${outcome.requeued > 0 ? `; ${outcome.requeued} batches were lost by Redis and done again` : ''}`,
    );
    await ledger.remove();
    return skipped === 0 ? 0 : 1;
  } catch (error) {
    say.clear();
    const e = asTagsmithError(error);
    say.line(e.code === 'cancelled' || e.code === 'redis_unavailable' ? e.message : `${e.message}; resume with: ${resumeHint}`);
    return e.code === 'cancelled' ? 130 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function newRun(inputs: string[], options: DistributedPredictOptions): Promise<RunLedger> {
  if (inputs.length === 0) throw new TagsmithError('invalid_option', 'give at least one image file or folder');
  if (!options.archive)
    throw new TagsmithError(
      'invalid_option',
      '--redis needs --state-archive FILE: the archive (from /get_state) whose tags the workers score with; the workers load the same file.',
    );
  const models = readManifest(findModelsDir(), options.backbone);
  const entry = models.models[models.backbone];
  const running = { backbone: models.backbone, featureLength: entry.outputs.features.length };
  // Only the tag list is needed here; the workers check every file of the archive.
  const archive = await readArchiveModels(options.archive, running, { verifyImages: false, upgrade: upgradeStoredCues });
  if (archive.models.length === 0)
    throw new TagsmithError(
      'unknown_tag',
      `${options.archive} has no tag trained on ${running.backbone}: train one first (or give the --backbone it was trained on).`,
    );
  const trained = archive.models.map((m) => m.tag);
  for (const tag of options.tags) {
    if (!trained.includes(tag))
      throw new TagsmithError('unknown_tag', `There is no trained tag "${tag}" in ${options.archive} (trained: ${trained.join(', ')}).`);
  }
  const found = await findImageFiles(inputs.map((input) => path.resolve(input)));
  const id = newRunId();
  const manifest: RunManifest = {
    name: 'tagsmith-scan-run',
    formatVersion: 1,
    id,
    createdAt: new Date().toISOString(),
    redis: shownRedisUrl(options.redisUrl),
    queue: queueName(archive.sha256, running.backbone),
    archive: { path: path.resolve(options.archive), sha256: archive.sha256 },
    backbone: running.backbone,
    cwd: process.cwd(),
    inputs,
    format: options.format,
    tags: options.tags.length > 0 ? options.tags : trained,
    nsfwLabels: entry.outputs.nsfw?.labels ?? [],
    appliesOnly: options.appliesOnly,
    batchSize: options.batchSize ?? DEFAULT_BATCH,
    batches: cutBatches(
      found.files.map((f) => path.resolve(f.path)),
      options.batchSize ?? DEFAULT_BATCH,
    ),
    walkSkipped: found.skipped,
  };
  return RunLedger.create(options.runsDir, manifest);
}

async function resumeRun(inputs: string[], options: DistributedPredictOptions): Promise<RunLedger> {
  if (inputs.length > 0) throw new TagsmithError('invalid_option', '--resume takes no files or folders: a run scans what its first walk found.');
  const ledger = await RunLedger.open(options.runsDir, options.resume!);
  if (options.archive) {
    const sha256 = await sha256File(options.archive);
    if (sha256 !== ledger.manifest.archive.sha256) {
      throw new TagsmithError(
        'invalid_option',
        `Run ${ledger.manifest.id} scores with archive ${ledger.manifest.archive.sha256}; ${options.archive} is ${sha256}. A run never mixes two models: start a new run for this archive.`,
      );
    }
  }
  return ledger;
}

/** A batch answer's record as the local scan prints it: the run's tags only, the path as the run's working folder shows it. */
function recordOf(image: BatchImage, run: RunManifest, shown: (p: string) => string): ImageCalls {
  return {
    path: shown(image.path),
    sha256: image.sha256,
    tags: Object.fromEntries(run.tags.flatMap((t) => (image.tags[t] ? [[t, image.tags[t]]] : []))),
    aesthetic: image.aesthetic,
    stock: image.stock,
    nsfw: image.nsfw,
  };
}

function progressText(p: RunProgress): string {
  const workers = p.workers === undefined ? '' : `, ${p.workers} worker${p.workers === 1 ? '' : 's'}`;
  return `${p.done}/${p.total} images, ${p.answered}/${p.batches} batches (${p.queued} in Redis${workers}), ${p.imagesPerSecond.toFixed(1)} images/s`;
}

/** stderr: lines as they come; progress rewritten in place on a terminal, else a line every 10 s. */
function progressLine(): { line(text: string): void; progress(text: string): void; clear(): void } {
  const tty = process.stderr.isTTY === true;
  let showing = false;
  let last = 0;
  const clear = () => {
    if (showing) process.stderr.write('\r\x1b[K');
    showing = false;
  };
  return {
    line(text) {
      clear();
      process.stderr.write(`tagsmith: ${text}\n`);
    },
    progress(text) {
      const now = Date.now();
      if (tty) {
        if (now - last < 200) return;
        last = now;
        process.stderr.write(`\r\x1b[Ktagsmith: ${text}`);
        showing = true;
      } else if (now - last >= 10_000) {
        last = now;
        process.stderr.write(`tagsmith: ${text}\n`);
      }
    },
    clear,
  };
}
