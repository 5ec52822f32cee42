// An engine's folder scans done by scan workers: `tagsmith serve --redis URL --state-archive FILE`.
// The engine's scan queue runs this in place of scanImages, with its contract (progress, cancel,
// images in walk order with their feature rows, skipped files with why), so a scan over HTTP is
// the same task whoever embeds it: the engine walks the folders, the coordinator of
// `tagsmith predict --redis` feeds the batches to the archive's workers, and their answers carry
// each image's features (and keywords when asked), which the engine stores and scores with its
// own models as it scores a local scan. A cancelled or failed run is not resumed: the engine's
// runs folder holds only the run under way.
import fs from 'node:fs/promises';
import { readManifest } from '../../models/manifest';
import { TagsmithError, asTagsmithError } from '../errors';
import { upgradeStoredCues } from '../engine/cue-upgrade';
import { findModelsDir } from '../features/models-dir';
import { findImageFiles, type SkippedPath } from '../images/image-files';
import type { ScannedImage, ScanOutcome, ScanProgress, ScanRunner } from '../scan/scanner';
import { readArchiveModels } from '../state/archive-file';
import { decodeFeatures } from '../state/stored-records';
import { checkRedisUrl, shownRedisUrl } from './redis-connection';
import { RunLedger, type RunManifest } from './run-ledger';
import { coordinateRun } from './scan-coordinator';
import { cutBatches, DEFAULT_BATCH, MAX_BATCH, newRunId, queueName } from './scan-jobs';

export interface DistributedScanOptions {
  redisUrl: string;
  /** The archive the workers loaded (its sha256 names their queue). */
  archive: string;
  /** The engine's folder for the ledger of the run under way; emptied when its first scan starts. */
  runsDir: string;
  backbone?: string;
  batchSize?: number;
  redisTimeoutMs?: number;
  log: (line: string) => void;
}

export interface DistributedScans {
  run: ScanRunner;
  /** The workers' queue and where it is, for the engine's start-up line. */
  queue: string;
  redis: string;
}

/** Checks the archive (that workers could load it for this backbone) and returns the runner of scans over its queue. */
export async function distributedScans(options: DistributedScanOptions): Promise<DistributedScans> {
  checkRedisUrl(options.redisUrl);
  const manifest = readManifest(findModelsDir(), options.backbone);
  const running = { backbone: manifest.backbone, featureLength: manifest.models[manifest.backbone].outputs.features.length };
  const archive = await readArchiveModels(options.archive, running, { verifyImages: false, upgrade: upgradeStoredCues });
  // A worker refuses such an archive, so no batch of it would ever be taken.
  if (archive.models.length === 0)
    throw new TagsmithError(
      'invalid_option',
      `${options.archive} has no tag trained on ${running.backbone}: scan workers refuse it, so no scan would finish. Give the archive the workers loaded.`,
    );
  const queue = queueName(archive.sha256, running.backbone);
  const batchSize = options.batchSize ?? DEFAULT_BATCH;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH)
    throw new TagsmithError('invalid_option', `--batch must be 1 to ${MAX_BATCH} images; got ${batchSize}.`);
  let cleared = false;

  const run: ScanRunner = async (inputs, embeddings, _index, scan = {}) => {
    if (embeddings.backbone !== running.backbone)
      throw new TagsmithError('internal', `the engine runs ${embeddings.backbone}; its scan workers' queue is for ${running.backbone}`);
    // Left by an engine killed mid-run (this engine holds the state's lock, so none is another's).
    if (!cleared) await fs.rm(options.runsDir, { recursive: true, force: true });
    cleared = true;
    const started = performance.now();
    const found = await findImageFiles(inputs, { within: scan.within });
    for (const s of found.skipped) scan.onSkipped?.(s);
    const progress: ScanProgress = { total: found.files.length, done: 0, embedded: 0, known: 0, skipped: found.skipped.length, imagesPerSecond: 0 };
    const manifest: RunManifest = {
      name: 'tagsmith-scan-run',
      formatVersion: 1,
      id: newRunId(),
      createdAt: new Date().toISOString(),
      redis: shownRedisUrl(options.redisUrl),
      queue,
      archive: { path: options.archive, sha256: archive.sha256 },
      backbone: running.backbone,
      // The CLI's output settings: an engine's run prints nothing.
      cwd: '/',
      inputs,
      format: 'jsonl',
      tags: [],
      nsfwLabels: [],
      appliesOnly: false,
      batchSize,
      batches: cutBatches(
        found.files.map((f) => f.path),
        batchSize,
      ),
      walkSkipped: found.skipped,
      featureLength: running.featureLength,
      ...(scan.keywords ? { keywords: true, ...(embeddings.keywordModel !== undefined ? { keywordModel: embeddings.keywordModel } : {}) } : {}),
    };
    if (manifest.batches.length === 0) return { images: [], features: new Float32Array(0), skipped: found.skipped, embedded: 0, known: 0, cancelled: false };

    const ledger = await RunLedger.create(options.runsDir, manifest);
    try {
      let cancelled = false;
      let failed = new Map<number, string>();
      try {
        const outcome = await coordinateRun({
          redisUrl: options.redisUrl,
          ledger,
          redisTimeoutMs: options.redisTimeoutMs,
          signal: scan.signal,
          dropOnAbort: true,
          onAnswer: (_batch, result) => {
            progress.embedded += result.embedded;
            progress.known += result.known;
            progress.skipped += result.skipped.length;
          },
          onProgress: (p) => {
            progress.done = p.done;
            progress.imagesPerSecond = progress.done / ((performance.now() - started) / 1000);
            scan.onProgress?.({ ...progress });
          },
          log: (line) => options.log(`scan ${manifest.id}: ${line}`),
        });
        failed = new Map(outcome.failed.map((f) => [f.batch, f.reason]));
      } catch (error) {
        const e = asTagsmithError(error);
        // The coordinator's advice (--resume) is the CLI's: an engine's run is not kept to resume.
        if (e.code === 'redis_unavailable')
          throw new TagsmithError(
            'redis_unavailable',
            e.message.replace(/what was done is kept: resume with --resume .*$/, 'the scan stopped: scan the folder again once Redis is back.'),
            { cause: error },
          );
        if (e.code !== 'cancelled') throw error;
        cancelled = true;
      }
      return assemble(ledger, found.skipped, failed, cancelled, scan);
    } finally {
      await ledger.remove();
    }
  };
  return { run, queue, redis: shownRedisUrl(options.redisUrl) };
}

/** The answers as a local scan's outcome: images in walk order, up to the first batch not answered if cancelled; a failed batch's files skipped with why. */
function assemble(
  ledger: RunLedger,
  walkSkipped: SkippedPath[],
  failed: ReadonlyMap<number, string>,
  cancelled: boolean,
  scan: Parameters<ScanRunner>[3] = {},
): ScanOutcome {
  const featureLength = ledger.manifest.featureLength!;
  const keepFeatures = scan.keepFeatures ?? true;
  const images: ScannedImage[] = [];
  const rows: Float32Array[] = [];
  const skipped = [...walkSkipped];
  let embedded = 0;
  let known = 0;
  for (let batch = 0; batch < ledger.batches; batch++) {
    const result = ledger.result(batch);
    if (!result) {
      if (!failed.has(batch)) break; // cancelled here
      for (const p of ledger.manifest.batches[batch]) {
        const skip = { path: p, reason: `its batch failed on the scan workers: ${failed.get(batch)}`.slice(0, 2000) };
        skipped.push(skip);
        scan.onSkipped?.(skip);
      }
      continue;
    }
    embedded += result.embedded;
    known += result.known;
    for (const answer of result.images) {
      const { features, keywords, keywordVector, tags: _scoredByTheWorker, ...base } = answer;
      const image: ScannedImage = { ...base, ...(keywords && keywordVector ? { keywords: keywords as ScannedImage['keywords'], keywordVector } : {}) };
      const row = decodeFeatures(features!);
      images.push(image);
      if (keepFeatures) rows.push(row);
      scan.onImage?.(image, row);
    }
    for (const s of result.skipped) {
      skipped.push(s);
      scan.onSkipped?.(s);
    }
  }
  const matrix = new Float32Array(rows.length * featureLength);
  rows.forEach((row, i) => matrix.set(row, i * featureLength));
  return {
    images,
    features: matrix,
    skipped,
    embedded,
    known,
    cancelled: cancelled && images.length + skipped.length - walkSkipped.length < countFiles(ledger),
  };
}

function countFiles(ledger: RunLedger): number {
  return ledger.manifest.batches.reduce((n, b) => n + b.length, 0);
}
