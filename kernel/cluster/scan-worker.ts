// A scan worker (`tagsmith worker`): takes batches of image paths from its archive's BullMQ
// queue, embeds and scores them with the code a local scan runs (scanImages, the engine's
// embedder, the archive's models), and answers each batch whole. Features are cached by the
// sha256 of the image bytes in the worker's own cache folder, so a batch tried again, or an
// image scanned before, is not embedded again.
//
// A worker scores with one archive only, loaded and checked at start. Batches of other archives
// go to other queues and never reach it; a job that names another archive all the same is
// failed at once (UnrecoverableError), never scored with this worker's models. Fetching the
// archive a job names was not chosen: an archive holds every sample image (hundreds of MB),
// which Redis should not carry, and a worker swapping models mid-run could score one run with
// two models. Another archive means other workers (or these, restarted with it).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { TagsmithError } from '../errors';
import { upgradeStoredCues } from '../engine/cue-upgrade';
import { Embedder } from '../engine/embedder';
import { checkKeywordModels, keywordsModelMissing, openKeywordSource, type KeywordSource } from '../engine/keyword-source';
import { FeatureExtractor } from '../features/feature-extractor';
import { ScanIndex } from '../scan/scan-index';
import { imageCalls } from '../scan/image-calls';
import { scanImages, type ScanEmbeddings } from '../scan/scanner';
import { readArchiveModels } from '../state/archive-file';
import { FeatureCache } from '../state/feature-cache';
import type { EmbeddingRecord } from '../state/record-schemas';
import { checkCurrentEmbedding, encodeFeatures } from '../state/stored-records';
import { TagModel } from '../training/tag-model';
import { redisConnection, shownRedisUrl } from './redis-connection';
import { BATCH_RESULT_FORMAT, checkJob, queueName, type BatchImage, type BatchResult, type ScanJob } from './scan-jobs';

export interface ScanWorkerOptions {
  redisUrl: string;
  /** The state archive whose models score the batches (a /get_state tar). */
  archive: string;
  /** Holds the feature cache and the scan index (default ~/.tagsmith/worker-cache). */
  cacheDir: string;
  /** Batches worked on at once (default 2: one's files are read while another's are embedded). */
  concurrency?: number;
  /** Cores inference may use (default every core). */
  threads?: number;
  backbone?: string;
  /**
   * How long a batch stays this worker's without a sign of life (default 30 s; renewed every
   * half of it). A killed worker's batch goes back to the queue once this has passed and another
   * worker's stalled-job check (as often as this) sees it.
   */
  lockMs?: number;
  /** Largest size of the feature cache. */
  cacheBytes?: number;
  /** Real folders this worker may read (unset: any path a job names). */
  within?: readonly string[];
  log: (line: string) => void;
}

export interface RunningScanWorker {
  queue: string;
  archiveSha256: string;
  tags: string[];
  name: string;
  /** Finishes the batches in hand (up to `graceMs`, then gives them back to the queue) and stops. */
  close(graceMs?: number): Promise<void>;
}

export const DEFAULT_WORKER_CACHE = path.join(os.homedir(), '.tagsmith', 'worker-cache');
const DEFAULT_CACHE_BYTES = 2 * 1024 ** 3;
/** Progress reports of a batch, at most this often (each is a Redis call). */
const PROGRESS_EVERY_MS = 250;

export async function startScanWorker(options: ScanWorkerOptions): Promise<RunningScanWorker> {
  const extractor = await FeatureExtractor.create({ threads: options.threads, backbone: options.backbone });
  let keywords: KeywordSource | undefined;
  try {
    const running = { backbone: extractor.backboneId, featureLength: extractor.featureLength };
    const archive = await readArchiveModels(options.archive, running, { upgrade: upgradeStoredCues });
    if (archive.models.length === 0) {
      const other =
        archive.otherBackbone.length > 0
          ? ` (${archive.otherBackbone.join(', ')} ${archive.otherBackbone.length > 1 ? 'were' : 'was'} trained on another backbone; start the worker with that --backbone)`
          : '';
      throw new TagsmithError('unknown_tag', `${options.archive} has no tag trained on ${running.backbone}${other}: a worker has nothing to score with.`);
    }
    const models = archive.models.map((json) => TagModel.fromJSON(json));
    await fs.mkdir(options.cacheDir, { recursive: true });
    const cache = await FeatureCache.open<EmbeddingRecord>(path.join(options.cacheDir, 'features'), {
      maxBytes: options.cacheBytes ?? DEFAULT_CACHE_BYTES,
      check: (value) => checkCurrentEmbedding(value, 'feature cache entry', running),
    });
    const index = await ScanIndex.open(path.join(options.cacheDir, 'scan-index.json'));
    // Keywords are found as a local scan finds them: for tags trained with apply_keywords, and for
    // an engine's scan that asks for them. A worker without the keywords model cannot score such
    // tags and refuses the archive at start; a batch asking for keywords it cannot find is refused.
    const opened = await openKeywordSource(path.join(options.cacheDir, 'keywords'), { threads: options.threads });
    keywords = opened.keywords;
    const needing = models.filter((m) => m.needs.keywords).map((m) => m.tag);
    if (needing.length > 0 && !keywords)
      throw keywordsModelMissing(opened.keywordsStatus, needing, ' on this worker, or give it an archive whose tags need no keywords');
    if (keywords) checkKeywordModels(models, keywords, ', or install their keywords model on this worker');
    const source = keywords;
    const embedder = new Embedder(extractor);
    const embeddings: ScanEmbeddings = {
      ...running,
      known: (id) => cache.get(running.backbone, id),
      embed: async (bytes, id) => {
        const record = await embedder.embed(bytes, id);
        await cache.put(running.backbone, id, record);
        return record;
      },
      flush: () => {
        cache.flush();
        source?.flushCache();
      },
      ...(source ? { keywords: (id: string, bytes: () => Promise<Uint8Array>) => source.of(bytes, id) } : {}),
    };
    const name = `tagsmith-worker@${os.hostname()}:${process.pid}`;
    const queue = queueName(archive.sha256, running.backbone);

    const scoreBatch = async (job: Job): Promise<BatchResult> => {
      const data = checkJob(job.data);
      if ('problem' in data) throw new UnrecoverableError(data.problem);
      if (data.archive !== archive.sha256 || data.backbone !== running.backbone) {
        throw new UnrecoverableError(
          `Batch ${job.id} asks for archive ${data.archive} on ${data.backbone}; ${name} scores with ${archive.sha256} on ${running.backbone} only, so it refuses the batch.`,
        );
      }
      if (data.keywords && !source)
        throw new UnrecoverableError(
          `Batch ${job.id} asks for keywords; ${name} has no keywords model (${opened.keywordsStatus.reason ?? 'missing'}): run \`${opened.keywordsStatus.install ?? 'npm run models:keywords'}\` on it.`,
        );
      if (data.keywords && data.keywordModel !== undefined && source && data.keywordModel !== source.model)
        throw new UnrecoverableError(`Batch ${job.id} asks for the keywords of ${data.keywordModel}; ${name} has ${source.model}, so it refuses the batch.`);
      const started = performance.now();
      const wants = { features: data.features ?? false, keywords: needing.length > 0 || (data.keywords ?? false) };
      const result = await scanBatch(data, embeddings, index, models, options.within, (done, total) => job.updateProgress({ done, total }), wants);
      options.log(
        `${job.id}: ${result.images.length} images (${result.embedded} embedded, ${result.known} from the cache), ${result.skipped.length} skipped, ${((performance.now() - started) / 1000).toFixed(1)} s`,
      );
      const answered = wants.keywords && source ? { keywordModel: source.model } : {};
      return {
        name: 'tagsmith-scan-batch-result',
        formatVersion: BATCH_RESULT_FORMAT,
        run: data.run,
        batch: data.batch,
        archive: archive.sha256,
        worker: name,
        ...answered,
        ...result,
      };
    };

    const lockMs = options.lockMs ?? 30_000;
    const worker = new Worker(queue, scoreBatch, {
      connection: redisConnection(options.redisUrl),
      name,
      concurrency: options.concurrency ?? 2,
      lockDuration: lockMs,
      stalledInterval: lockMs,
      // A batch whose worker died is tried again elsewhere; three deaths in a row fail it (a poison batch).
      maxStalledCount: 3,
      autorun: false,
    });
    worker.on('failed', (job, error) => options.log(`${job?.id ?? 'a batch'} failed: ${error.message}`));
    worker.on('stalled', (id) => options.log(`${id}: its worker stopped answering; back in the queue for another`));
    let lastError = '';
    worker.on('error', (error) => {
      // Redis going away repeats the same error on every retry: say it once.
      if (error.message !== lastError) options.log(`Redis: ${error.message}`);
      lastError = error.message;
    });
    worker.on('ready', () => {
      if (lastError) options.log(`Redis at ${shownRedisUrl(options.redisUrl)} answers again`);
      lastError = '';
    });
    await worker.waitUntilReady();
    void worker.run().catch((error: unknown) => options.log(`stopped taking batches: ${(error as Error).message}`));
    return {
      queue,
      archiveSha256: archive.sha256,
      tags: models.map((m) => m.tag),
      name,
      async close(graceMs = 10_000) {
        // Batches in hand get `graceMs` to finish; past that the worker lets go of them, and
        // their locks lapse so another worker takes them (nothing is lost, nothing counted twice).
        const closing = worker.close();
        const forced = setTimeout(() => void worker.close(true), graceMs);
        try {
          await closing;
        } finally {
          clearTimeout(forced);
          await index.save().catch(() => undefined);
          await extractor.release();
          await source?.detector.release();
        }
      },
    };
  } catch (error) {
    await extractor.release();
    await keywords?.detector.release();
    throw error;
  }
}

/**
 * One batch through the local scan's code: each path embedded once (or taken from the cache),
 * every tag scored. Every path of the batch comes back once, as an image or skipped with why.
 */
export async function scanBatch(
  job: Pick<ScanJob, 'paths'>,
  embeddings: ScanEmbeddings,
  index: ScanIndex,
  models: readonly TagModel[],
  within: readonly string[] | undefined,
  progress: (done: number, total: number) => Promise<void>,
  /** Answer each image's features; find (and answer) its keywords. */
  wants: { features: boolean; keywords: boolean } = { features: false, keywords: false },
): Promise<Pick<BatchResult, 'images' | 'skipped' | 'embedded' | 'known'>> {
  const wanted = new Set(job.paths);
  const images = new Map<string, BatchImage>();
  const skipped = new Map<string, string>();
  let lastReport = 0;
  let reporting: Promise<void> = Promise.resolve();
  const outcome = await scanImages(job.paths, embeddings, index, {
    keepFeatures: false,
    within,
    keywords: wants.keywords && embeddings.keywords !== undefined,
    onImage: (image, features) => {
      if (!wanted.has(image.path)) return; // a path that became a folder: its files are not this batch's
      const { path: _path, ...calls } = imageCalls(image, features, models);
      images.set(image.path, {
        path: image.path,
        width: image.width,
        height: image.height,
        ...calls,
        ...(wants.features ? { features: encodeFeatures(features) } : {}),
        ...(wants.keywords && image.keywords && image.keywordVector ? { keywords: image.keywords, keywordVector: image.keywordVector } : {}),
      });
    },
    onSkipped: (s) => {
      if (wanted.has(s.path)) skipped.set(s.path, s.reason);
    },
    onProgress: (p) => {
      const now = performance.now();
      if (now - lastReport < PROGRESS_EVERY_MS && p.done < p.total) return;
      lastReport = now;
      // Progress is for the eye: a report Redis refuses is not a reason to fail the batch.
      reporting = reporting.then(() => progress(p.done, p.total)).catch(() => undefined);
    },
  });
  await reporting;
  for (const p of job.paths) if (!images.has(p) && !skipped.has(p)) skipped.set(p, 'it is no longer a file');
  return {
    images: job.paths.flatMap((p) => images.get(p) ?? []),
    skipped: job.paths.flatMap((p) => (skipped.has(p) ? [{ path: p, reason: skipped.get(p)!.slice(0, 2000) }] : [])),
    embedded: outcome.embedded,
    known: outcome.known,
  };
}
