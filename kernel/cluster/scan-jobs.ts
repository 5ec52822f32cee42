// The one protocol between a scan coordinator and scan workers, over BullMQ on Redis: what a
// batch job carries, what a worker answers, the queue a batch goes to, and how long Redis keeps
// what. Both sides check what they receive against the schemas here (Redis is a boundary: any
// process that can reach it can put a job there).
//
// A batch is a slice of the coordinator's walk, as absolute paths every worker can read (shared
// storage mounted at the same place). Jobs of one archive go to that archive's queue
// (`tagsmith-scan.<backbone>.<sha256>`), so a worker only ever sees batches of the archive it
// loaded; a job naming another archive anyway is refused, never scored with another model.
import crypto from 'node:crypto';
import path from 'node:path';
import { Type, type Static } from 'typebox';
import { isBackboneId, RUN_ID_PATTERN } from '../state/path-names';
import { schemaChecker } from '../state/stored-records';

export const JOB_NAME = 'scan-batch';
/** Most paths in one batch (a job's data stays small: Redis holds it while it waits). */
export const MAX_BATCH = 1000;
export const DEFAULT_BATCH = 32;

/**
 * How long Redis keeps what (BullMQ removes by age when later jobs finish). A batch's answer is
 * collected by its coordinator within seconds and then removed; one whose coordinator never
 * comes back (to resume) goes after a day. Failed batches stay a week, to be looked at.
 */
export const RETENTION = {
  completedSeconds: 24 * 3600,
  failedSeconds: 7 * 24 * 3600,
  /** Events (progress, completions) kept in the queue's stream. */
  events: 2_000,
} as const;

/** Tries of a batch whose worker threw (an unreadable share, a worker bug); a killed worker's batch is BullMQ's stalled-job recovery instead. */
export const ATTEMPTS = 3;

const closed = { additionalProperties: false } as const;
const Sha256 = Type.String({ pattern: '^[0-9a-f]{64}$' });
const Backbone = Type.Refine(
  Type.String(),
  (v) => isBackboneId(v),
  () => 'is not a backbone id',
);
const RunIdSchema = Type.String({ pattern: RUN_ID_PATTERN.source });
const AbsolutePath = Type.Refine(
  Type.String({ minLength: 1, maxLength: 4096 }),
  (v) => path.isAbsolute(v) && !v.includes('\0'),
  () => 'is not an absolute path',
);
const Probability = Type.Number({ minimum: 0, maximum: 1 });
const Count = Type.Integer({ minimum: 0 });

export const ScanJobSchema = Type.Object(
  {
    name: Type.Literal('tagsmith-scan-batch'),
    formatVersion: Type.Literal(1),
    run: RunIdSchema,
    batch: Count,
    /** The sha256 of the state archive whose models score this batch. */
    archive: Sha256,
    backbone: Backbone,
    paths: Type.Array(AbsolutePath, { minItems: 1, maxItems: MAX_BATCH }),
    /**
     * Answer each image's feature vector too: an engine's scan (POST /scans with --redis) keeps
     * the feature matrix, to re-score a retrained tag, rank its review queue and find "more like
     * this" without reading an image again. `tagsmith predict --redis` needs only the scores.
     */
    features: Type.Optional(Type.Boolean()),
    /** Find each image's keywords and answer them (a scan with keywords, or the engine's tags need them). */
    keywords: Type.Optional(Type.Boolean()),
    /** With `keywords`: the keywords model the answer's confidences must come from (what the engine's tags were trained on). */
    keywordModel: Type.Optional(Type.String({ maxLength: 64 })),
  },
  closed,
);
export type ScanJob = Static<typeof ScanJobSchema>;

const KeywordHitSchema = Type.Object(
  {
    score: Probability,
    count: Type.Integer({ minimum: 1 }),
    boxes: Type.Array(Type.Array(Type.Number(), { minItems: 4, maxItems: 4 }), { maxItems: 1000 }),
  },
  closed,
);
const TagCallSchema = Type.Object({ score: Probability, threshold: Probability, applies: Type.Boolean() }, closed);

export const BatchImageSchema = Type.Object(
  {
    path: AbsolutePath,
    /** sha256 of the bytes scored: a file changed since the walk is scored as it is now, and says so. */
    sha256: Sha256,
    width: Count,
    height: Count,
    tags: Type.Record(Type.String({ maxLength: 64 }), TagCallSchema),
    aesthetic: Probability,
    stock: Probability,
    nsfw: Type.Record(Type.String({ maxLength: 64 }), Probability),
    /** With the job's `features`: the embedding's features, base64 float32 little-endian (as stored records hold them). */
    features: Type.Optional(Type.String({ maxLength: 1 << 20 })),
    /** With the job's `keywords`: the objects found and each class's best confidence. */
    keywords: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), KeywordHitSchema)),
    keywordVector: Type.Optional(Type.Array(Probability, { maxItems: 1000 })),
  },
  closed,
);
export type BatchImage = Static<typeof BatchImageSchema>;

const SkippedSchema = Type.Object({ path: AbsolutePath, reason: Type.String({ maxLength: 2000 }) }, closed);

/** 2 since its images' aesthetic and stock scores are measured as EMBEDDING_FORMAT 2 measures them: a worker of an older version is not heard. */
export const BATCH_RESULT_FORMAT = 2;

export const BatchResultSchema = Type.Object(
  {
    name: Type.Literal('tagsmith-scan-batch-result'),
    formatVersion: Type.Literal(BATCH_RESULT_FORMAT),
    run: RunIdSchema,
    batch: Count,
    archive: Sha256,
    /** The worker that scored it (`tagsmith-worker@host:pid`). */
    worker: Type.String({ maxLength: 300 }),
    images: Type.Array(BatchImageSchema, { maxItems: MAX_BATCH }),
    skipped: Type.Array(SkippedSchema, { maxItems: MAX_BATCH }),
    /** With keywords in the answer: the keywords model that found them. */
    keywordModel: Type.Optional(Type.String({ maxLength: 64 })),
    /** Images the worker's network embedded, and those its feature cache knew. */
    embedded: Count,
    known: Count,
  },
  closed,
);
export type BatchResult = Static<typeof BatchResultSchema>;

const jobShape = schemaChecker(ScanJobSchema);
const resultShape = schemaChecker(BatchResultSchema);

/**
 * The queue of one archive's batches for one backbone (BullMQ queue names may not hold `:`),
 * named with the result format: a worker of a version that answers another format listens
 * elsewhere, so it never takes a batch only to have its answer refused.
 */
export function queueName(archiveSha256: string, backbone: string): string {
  return `tagsmith-scan.v${BATCH_RESULT_FORMAT}.${backbone}.${archiveSha256}`;
}

export function newRunId(): string {
  return `r-${Date.now().toString(36)}-${crypto.randomBytes(4).toString('hex')}`;
}

/** A batch's job id: the same batch of the same run is one job, however often it is added. */
export function jobId(run: string, batch: number): string {
  return `${run}.${batch}`;
}

/** The batch number of a job id of `run`, if it is one. */
export function batchOf(run: string, id: string | undefined): number | undefined {
  if (!id?.startsWith(`${run}.`)) return undefined;
  const n = Number(id.slice(run.length + 1));
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}

/** The walk's files cut into batches of `size`, in walk order (batch i holds files i·size…). */
export function cutBatches<T>(files: readonly T[], size: number): T[][] {
  if (!Number.isInteger(size) || size < 1 || size > MAX_BATCH) throw new RangeError(`a batch holds 1 to ${MAX_BATCH} images; got ${size}`);
  const batches: T[][] = [];
  for (let i = 0; i < files.length; i += size) batches.push(files.slice(i, i + size));
  return batches;
}

/** A job's data as a worker checks it; the problem in words otherwise. */
export function checkJob(value: unknown): ScanJob | { problem: string } {
  const checked = jobShape(value);
  return 'value' in checked ? checked.value : { problem: `the batch job is malformed: ${checked.problem}` };
}

/**
 * A worker's answer as the coordinator checks it: the right run, batch and archive, and every
 * path of the batch exactly once, as an image or as skipped, and nothing else. So a batch is
 * counted once, whole, however many times it was tried.
 */
export function checkBatchResult(
  value: unknown,
  expected: { run: string; batch: number; archive: string; paths: readonly string[]; featureLength?: number; keywords?: boolean; keywordModel?: string },
): BatchResult | { problem: string } {
  const checked = resultShape(value);
  if (!('value' in checked)) return { problem: `the answer is malformed: ${checked.problem}` };
  const result = checked.value;
  if (result.run !== expected.run || result.batch !== expected.batch)
    return { problem: `the answer is for ${result.run} batch ${result.batch}, not ${expected.run} batch ${expected.batch}` };
  if (result.archive !== expected.archive) return { problem: `the answer was scored with archive ${result.archive}, not ${expected.archive}` };
  const wanted = new Set(expected.paths);
  const seen = new Set<string>();
  for (const p of [...result.images.map((i) => i.path), ...result.skipped.map((s) => s.path)]) {
    if (!wanted.has(p)) return { problem: `the answer names ${p}, which is not in the batch` };
    if (seen.has(p)) return { problem: `the answer names ${p} twice` };
    seen.add(p);
  }
  const missing = expected.paths.find((p) => !seen.has(p));
  if (missing !== undefined) return { problem: `the answer leaves out ${missing}` };
  if (expected.keywordModel !== undefined && result.images.length > 0 && result.keywordModel !== expected.keywordModel)
    return { problem: `the answer's keywords come from ${result.keywordModel ?? 'an unnamed model'}, not ${expected.keywordModel}` };
  for (const image of result.images) {
    // base64 of featureLength float32s: 4 bytes each, 3 bytes in 4 characters, padded.
    if (expected.featureLength !== undefined && image.features?.length !== Math.ceil((expected.featureLength * 4) / 3) * 4)
      return { problem: `the answer has no features of ${expected.featureLength} numbers for ${image.path}` };
    if (expected.keywords && (!image.keywords || !image.keywordVector)) return { problem: `the answer has no keywords for ${image.path}` };
  }
  return result;
}
