// A scan: every image under some files and folders, embedded once. An unchanged file (same
// size and mtime as when it was last read) is not even read: its sha256 comes from the scan
// index and its features from a sample or the feature cache; a new or changed file is read,
// hashed and looked up by content, and embedded only if nobody has embedded those bytes.
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import { asTagsmithError } from '../errors';
import { settledInOrder, weightedLimit } from '../engine/concurrency-limit';
import { findImageFiles, type SkippedPath } from '../images/image-files';
import { DEFAULT_MAX_UPLOAD } from '../rules';
import type { Keywords } from '../scores/keywords';
import { decodeFeatures, type EmbeddingRecord } from '../state/stored-records';
import type { ScanIndex } from './scan-index';

/** Where a scan gets embeddings: what is known already, and the network for the rest. */
export interface ScanEmbeddings {
  readonly backbone: string;
  readonly featureLength: number;
  /** The embedding of these bytes if one exists (a sample's, or the feature cache's). */
  known(sha256: string): Promise<EmbeddingRecord | undefined>;
  /** Embeds new bytes and keeps the result in the feature cache; `signal` is the scan's cancel (what has not reached the network by then need not). */
  embed(bytes: Uint8Array, sha256: string, signal?: AbortSignal): Promise<EmbeddingRecord>;
  /** Writes what `embed` (and `keywords`) keep in memory for a while: the scan has ended, its index is saved next. */
  flush?: () => void;
  /** The keywords of an image (from the keyword cache, else detected); absent without the keywords model. */
  keywords?: (sha256: string, bytes: () => Promise<Uint8Array>) => Promise<{ keywords: Keywords; vector: number[] }>;
  /** The id of the keywords model `keywords` runs (scan workers must find keywords with the same one). */
  keywordModel?: string;
  /** Whether a trained tag needs keywords (a scan then finds them whether asked or not). */
  keywordsWanted?: () => boolean;
}

export interface ScannedImage {
  path: string;
  sha256: string;
  width: number;
  height: number;
  nsfw: Record<string, number>;
  aesthetic: number;
  stock: number;
  /** With keywords on: the COCO objects found, and each class's best confidence (what tags trained with keywords read). */
  keywords?: Keywords;
  keywordVector?: number[];
}

export interface ScanProgress {
  total: number;
  done: number;
  /** Embedded by the network in this scan. */
  embedded: number;
  /** Taken from a sample or the feature cache. */
  known: number;
  skipped: number;
  imagesPerSecond: number;
}

export interface ScanOutcome {
  images: ScannedImage[];
  /** images.length rows of featureLength floats; row i belongs to images[i] (none with keepFeatures false). */
  features: Float32Array;
  skipped: SkippedPath[];
  embedded: number;
  known: number;
  cancelled: boolean;
}

export interface ScanOptions {
  signal?: AbortSignal;
  onProgress?: (progress: ScanProgress) => void;
  /** Files larger than this are skipped unread (default 50 MB, the engine's upload limit). */
  maxImageBytes?: number;
  /** Files read and decoded at once; the extractor batches whatever is in flight. */
  concurrency?: number;
  /** Real paths of the folders a scan may read (a server's --scan-root); unset: anywhere. */
  within?: readonly string[];
  /** Each image as it is done, in order (a CLI streams its lines from here). */
  onImage?: (image: ScannedImage, features: Float32Array) => void;
  /** Each file skipped, as it is. */
  onSkipped?: (skipped: SkippedPath) => void;
  /** Build the outcome's feature matrix (default true; a stream that has used each row says false). */
  keepFeatures?: boolean;
  /** Find each image's keywords too (needs `embeddings.keywords`). */
  keywords?: boolean;
}

/**
 * Files read, decoded and embedded at once (bench:scan --concurrency compares others). Deep on
 * purpose: with many images queued, the inference workers, libuv's threads and this thread each
 * find work waiting instead of sleeping and being woken for every image (on the 2-core VM, scan /
 * bare pipeline 0.87-0.88 at 128 against 0.91-0.94 at 256, docs/benchmarks.md). The scan's views
 * queue in the inference pool's bulk lane and its decodes wait their turn in the extractor
 * (4 at once), so a /predict meanwhile still goes first, and a cancel drops what has not started;
 * memory stays bounded by SCAN_BYTES_IN_FLIGHT and a decoded image's 0.4 MB each (peak RSS
 * 840 MB over 10,000 files).
 */
export const DEFAULT_SCAN_CONCURRENCY = 256;

/** File bytes read and not yet embedded, over the files in flight: a folder of 50 MB TIFFs has 5 in memory at once, not 256. */
export const SCAN_BYTES_IN_FLIGHT = 256 * 2 ** 20;

export async function scanImages(inputs: string[], embeddings: ScanEmbeddings, index: ScanIndex, options: ScanOptions = {}): Promise<ScanOutcome> {
  const started = performance.now();
  const maxBytes = options.maxImageBytes ?? DEFAULT_MAX_UPLOAD;
  const found = await findImageFiles(inputs, { within: options.within });
  const skipped: SkippedPath[] = [...found.skipped];
  for (const s of found.skipped) options.onSkipped?.(s);
  const keepFeatures = options.keepFeatures ?? true;
  const withKeywords = (options.keywords ?? false) && embeddings.keywords !== undefined;
  const images: ScannedImage[] = [];
  const rows: Float32Array[] = [];
  const progress: ScanProgress = { total: found.files.length, done: 0, embedded: 0, known: 0, skipped: skipped.length, imagesPerSecond: 0 };
  // The same bytes under two names are embedded once.
  const embedding = new Map<string, Promise<EmbeddingRecord>>();

  const embeddingOf = async (sha256: string, bytes: () => Promise<Uint8Array>): Promise<EmbeddingRecord> => {
    let pending = embedding.get(sha256);
    if (!pending) {
      pending = (async () => {
        const known = await embeddings.known(sha256);
        if (known) {
          progress.known++;
          return known;
        }
        const read = await bytes();
        if (options.signal?.aborted) throw NOT_STARTED;
        const record = await embeddings.embed(read, sha256, options.signal);
        progress.embedded++;
        return record;
      })();
      embedding.set(sha256, pending);
    }
    return pending;
  };

  const bytesInFlight = weightedLimit(SCAN_BYTES_IN_FLIGHT);
  const scanFile = async (file: (typeof found.files)[number]): Promise<ScannedImage & { record: EmbeddingRecord }> => {
    if (file.size > maxBytes) throw new Error(`larger than ${Math.round(maxBytes / 2 ** 20)} MB`);
    if (file.size === 0) throw new Error('the file is empty');
    let sha256 = index.lookup(file.path, file.size, file.mtimeMs);
    let record: EmbeddingRecord | undefined;
    // An unchanged file's embedding is almost always known (its bytes are read only if the cache lost it).
    if (sha256) record = await embeddingOf(sha256, () => fs.readFile(file.path)).catch(() => undefined);
    if (!record) {
      ({ sha256, record } = await bytesInFlight(file.size, async () => {
        // A file that waited for room in the byte budget may find the scan cancelled meanwhile.
        if (options.signal?.aborted) throw NOT_STARTED;
        const bytes = await fs.readFile(file.path);
        const hash = crypto.createHash('sha256').update(bytes).digest('hex');
        return { sha256: hash, record: await embeddingOf(hash, async () => bytes) };
      }));
      // Remember the file only if it did not change while it was read.
      const after = await fs.stat(file.path).catch(() => undefined);
      if (after && after.size === file.size && after.mtimeMs === file.mtimeMs) index.record(file.path, file.size, file.mtimeMs, sha256);
      else index.forget(file.path);
    }
    const found = withKeywords ? await embeddings.keywords!(sha256!, () => fs.readFile(file.path)) : undefined;
    return {
      path: file.path,
      sha256: sha256!,
      width: record.image.width,
      height: record.image.height,
      nsfw: record.nsfw,
      aesthetic: record.aesthetic.score,
      stock: record.stock.score,
      ...(found ? { keywords: found.keywords, keywordVector: found.vector } : {}),
      record,
    };
  };

  let cancelled = false;
  const concurrency = options.concurrency ?? DEFAULT_SCAN_CONCURRENCY;
  for await (const [i, outcome] of numbered(settledInOrder(found.files, concurrency, scanFile))) {
    // After a cancel, files not yet embedded fail (NOT_STARTED, or the inference pool's queue
    // dropping them): the scan ends there, with what was done before.
    if (!outcome.ok && options.signal?.aborted) {
      cancelled = true;
      break;
    }
    progress.done++;
    if (outcome.ok) {
      const { record, ...image } = outcome.value;
      const row = decodeFeatures(record.features);
      images.push(image);
      if (keepFeatures) rows.push(row);
      options.onImage?.(image, row);
    } else {
      const skip = { path: found.files[i].path, reason: reasonOf(outcome.error) };
      skipped.push(skip);
      options.onSkipped?.(skip);
      progress.skipped++;
    }
    progress.imagesPerSecond = progress.done / ((performance.now() - started) / 1000);
    options.onProgress?.({ ...progress });
    // Whatever is in flight finishes into the cache; nothing new starts.
    if (options.signal?.aborted) {
      cancelled = progress.done < progress.total;
      break;
    }
  }
  embeddings.flush?.();
  await index.save();

  const features = new Float32Array(rows.length * embeddings.featureLength);
  rows.forEach((row, i) => features.set(row, i * embeddings.featureLength));
  return { images, features, skipped, embedded: progress.embedded, known: progress.known, cancelled };
}

/** What a file's task throws when it finds the scan cancelled before reading or embedding (files not yet started are never started: settledInOrder). */
const NOT_STARTED = new Error('the scan was cancelled before this file was read');

/**
 * What runs a scan: scanImages on this machine, or the same contract kept by other machines
 * (cluster/distributed-scan.ts: the files walked here, embedded by scan workers over Redis).
 */
export type ScanRunner = typeof scanImages;

async function* numbered<T>(items: AsyncIterable<T>): AsyncGenerator<[number, T]> {
  let i = 0;
  for await (const item of items) yield [i++, item];
}

/** A user-facing reason: the engine's message for bad images, the system's for unreadable files. */
function reasonOf(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'it was removed during the scan';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'it became a folder during the scan';
  const e = asTagsmithError(error);
  return e.code === 'internal' ? (error as Error).message : e.message;
}
