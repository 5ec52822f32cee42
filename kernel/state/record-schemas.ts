// The JSON records of the state folder, one TypeBox schema each: the state manifest, the
// CURRENT pointer, a tag's samples list, an embedding (the features cache), a tag model and a
// task record. The TypeScript types are derived from the schemas, so what a writer builds and
// what a reader accepts cannot drift apart; stored-records.ts checks values against them.
//
// Records are closed (no unknown fields), every number is finite (TypeBox refuses NaN and
// Infinity), every string has a length limit, and every name that becomes a path uses its
// rule from path-names.ts.
import { Type, type Static } from 'typebox';
import type { ScoreWithComponents } from '../scores/base-scores';
import { TAG_MODEL_FORMAT, TAG_MODEL_NAME } from '../training/tag-model';
import {
  MAX_CLUSTERS,
  MIN_CLUSTERS,
  SAMPLE_TYPES,
  TASK_STATES,
  type SampleType as RuleSampleType,
  type TaskState as RuleTaskState,
  type TrainOptions,
} from '../rules';
import { BACKBONE_RULE, isBackboneId, isGenerationName, isSampleId, isTaskId, isValidTag, shownName, TAG_RULE } from './path-names';

const closed = { additionalProperties: false } as const;

/** A string that passes one of path-names' rules. */
function Name(check: (value: unknown) => boolean, what: string, rule?: string) {
  return Type.Refine(
    Type.String(),
    (value) => check(value),
    (value) => `${shownName(value)} is not ${what}${rule ? ` (${rule})` : ''}`,
  );
}

const Tag = Name(isValidTag, 'a tag name', TAG_RULE);
const SampleId = Name(isSampleId, 'a sample id (the sha256 of its image, 64 hex digits)');
const TaskId = Name(isTaskId, 'a task id (a UUID)');
const BackboneId = Name(isBackboneId, 'a backbone id', BACKBONE_RULE);
const GenerationName = Name(isGenerationName, 'a generation folder name (g-…)');
const Timestamp = Type.String({ format: 'date-time', maxLength: 40 });
const Probability = Type.Number({ minimum: 0, maximum: 1 });
const Count = Type.Integer({ minimum: 0 });
const Sha256 = Type.String({ pattern: '^[0-9a-f]{64}$' });

// ── manifest.json and CURRENT ─────────────────────────────────────────────────────────

export const STATE_NAME = 'tagsmith-state';
export const STATE_FORMAT = 1;

export const StateManifestSchema = Type.Object(
  {
    name: Type.Literal(STATE_NAME),
    formatVersion: Type.Literal(STATE_FORMAT),
    createdAt: Timestamp,
  },
  closed,
);
export type StateManifest = Static<typeof StateManifestSchema>;

export const CurrentPointerSchema = Type.Object({ generation: GenerationName }, closed);
export type CurrentPointer = Static<typeof CurrentPointerSchema>;

// ── tags/<tag>/samples.json ───────────────────────────────────────────────────────────

export const SampleTypeSchema = Type.Enum(SAMPLE_TYPES);
export type SampleType = Static<typeof SampleTypeSchema>;

export const SampleRecordSchema = Type.Object(
  {
    /** sha256 of the image bytes; also the image's file name. */
    id: SampleId,
    type: SampleTypeSchema,
    fileName: Type.Optional(Type.String({ maxLength: 255 })),
    addedAt: Timestamp,
  },
  closed,
);
export type SampleRecord = Static<typeof SampleRecordSchema>;

export const SampleListSchema = Type.Object(
  {
    name: Type.Literal('tagsmith-samples'),
    formatVersion: Type.Literal(1),
    tag: Tag,
    samples: Type.Array(SampleRecordSchema),
  },
  closed,
);
export type SampleListJson = Static<typeof SampleListSchema>;

// ── features/<backbone>/<sample id>.json ──────────────────────────────────────────────

const ScoreSchema = Type.Object(
  {
    score: Type.Number(),
    components: Type.Record(Type.String({ maxLength: 64 }), Type.Number(), { maxProperties: 32 }),
  },
  closed,
);

/**
 * 2 since 2026-11-28: the aesthetic cues are measured on the cue image (image-decoder.ts's
 * decodeCueImage), no longer on a lanczos3 thumbnail of longer side 256; the two measures
 * correlate 0.98 on the hymenoptera photos. A writable engine re-measures the version 1 records
 * of its samples when it opens the state or restores an archive (engine/cue-upgrade.ts).
 */
export const EMBEDDING_FORMAT = 2;

export const EmbeddingSchema = Type.Object(
  {
    name: Type.Literal('tagsmith-embedding'),
    formatVersion: Type.Union([Type.Literal(1), Type.Literal(EMBEDDING_FORMAT)]),
    backbone: BackboneId,
    /** Float32 little-endian, base64: a third of the size of a JSON number array. */
    features: Type.String({ pattern: '^[A-Za-z0-9+/]*={0,2}$', minLength: 8 }),
    nsfw: Type.Record(Type.String({ maxLength: 64 }), Type.Number(), { maxProperties: 32 }),
    aesthetic: ScoreSchema,
    stock: ScoreSchema,
    image: Type.Object({ format: Type.String({ maxLength: 32 }), width: Type.Integer({ minimum: 1 }), height: Type.Integer({ minimum: 1 }) }, closed),
  },
  closed,
);
export type EmbeddingRecord = Static<typeof EmbeddingSchema>;

// ── tags/<tag>/model.json ─────────────────────────────────────────────────────────────

export const TrainOptionsSchema = Type.Object(
  {
    num_clusters: Type.Integer({ minimum: MIN_CLUSTERS, maximum: MAX_CLUSTERS }),
    apply_aesthetic_score: Type.Boolean(),
    apply_stock_score: Type.Boolean(),
    /** Absent in models trained before the keywords model existed. */
    apply_keywords: Type.Optional(Type.Boolean()),
  },
  closed,
);

export const TagMetricsSchema = Type.Object(
  {
    folds: Count,
    positives: Count,
    negatives: Count,
    threshold: Probability,
    precision: Probability,
    recall: Probability,
    f1: Probability,
    accuracy: Probability,
    rocAuc: Probability,
    confusion: Type.Object({ truePositives: Count, falsePositives: Count, trueNegatives: Count, falseNegatives: Count }, closed),
    /** Out-of-fold score counts in 20 bins over [0, 1]. */
    histogram: Type.Object({ positives: Type.Array(Count, { maxItems: 100 }), negatives: Type.Array(Count, { maxItems: 100 }) }, closed),
    roc: Type.Array(Type.Object({ fpr: Probability, tpr: Probability }, closed)),
    clusterSizes: Type.Array(Count, { maxItems: MAX_CLUSTERS }),
    l2: Type.Number({ exclusiveMinimum: 0 }),
  },
  closed,
);
export type TagMetrics = Static<typeof TagMetricsSchema>;

/**
 * How a backbone vector is prepared: `sqrt-l2` takes the signed square root of each component
 * (power normalisation, which tames a few dominant activations) and then L2-normalises.
 */
export const FeatureTransformSchema = Type.Enum(['l2', 'sqrt-l2']);
export type FeatureTransform = Static<typeof FeatureTransformSchema>;

/** The longest feature vector a model may declare (MobileNetV2-1.4 gives 1792). */
export const MAX_FEATURE_LENGTH = 65_536;
/** The most classes a keywords model may have (COCO has 80). */
export const MAX_KEYWORD_CLASSES = 1000;
const MAX_WEIGHTS = MAX_FEATURE_LENGTH + 2 + MAX_KEYWORD_CLASSES;

export const ClusterWeightsSchema = Type.Object(
  {
    weights: Type.Array(Type.Number(), { minItems: 1, maxItems: MAX_WEIGHTS }),
    bias: Type.Number(),
    size: Count,
  },
  closed,
);
export type ClusterWeights = Static<typeof ClusterWeightsSchema>;

export const TagModelSchema = Type.Object(
  {
    name: Type.Literal(TAG_MODEL_NAME),
    formatVersion: Type.Literal(TAG_MODEL_FORMAT),
    tag: Tag,
    backbone: BackboneId,
    featureLength: Type.Integer({ minimum: 1, maximum: MAX_FEATURE_LENGTH }),
    featureTransform: FeatureTransformSchema,
    options: TrainOptionsSchema,
    /** Mean and standard deviation of each appended base score, from the training samples. */
    extras: Type.Array(Type.Object({ name: Type.Enum(['aesthetic', 'stock']), mean: Type.Number(), std: Type.Number({ exclusiveMinimum: 0 }) }, closed), {
      maxItems: 2,
    }),
    /**
     * With apply_keywords: the keywords model's confidences appended after the extras, each
     * standardised with these and the block scaled by `scale` (so it weighs about as much as
     * the unit-length feature vector).
     */
    keywords: Type.Optional(
      Type.Object(
        {
          model: BackboneId,
          mean: Type.Array(Type.Number(), { minItems: 1, maxItems: MAX_KEYWORD_CLASSES }),
          std: Type.Array(Type.Number({ exclusiveMinimum: 0 }), { minItems: 1, maxItems: MAX_KEYWORD_CLASSES }),
          scale: Type.Number({ exclusiveMinimum: 0 }),
        },
        closed,
      ),
    ),
    clusters: Type.Array(ClusterWeightsSchema, { minItems: 1, maxItems: MAX_CLUSTERS }),
    /**
     * With more than one cluster: the head of all positives against all negatives, and the share
     * of it in the score (cross-validation chose it): score = share·shared + (1 − share)·max over clusters.
     */
    shared: Type.Optional(
      Type.Object({ weights: Type.Array(Type.Number(), { minItems: 1, maxItems: MAX_WEIGHTS }), bias: Type.Number(), share: Probability }, closed),
    ),
    threshold: Probability,
    metrics: TagMetricsSchema,
    trainedAt: Timestamp,
    /** Hash of the sample set it was trained on, so the gallery can tell when it is stale. */
    samplesDigest: Sha256,
    /**
     * Each sample's cross-validated score: from the model of the fold that held it out. A label
     * this contradicts is suspect (the gallery's "suspicious samples").
     */
    outOfFold: Type.Optional(Type.Array(Type.Object({ id: SampleId, score: Probability }, closed), { maxItems: 1_000_000 })),
  },
  closed,
);
export type TagModelJson = Static<typeof TagModelSchema>;

// ── tasks/<task id>.json ──────────────────────────────────────────────────────────────

export const TaskStateSchema = Type.Enum(TASK_STATES);
export type TaskState = Static<typeof TaskStateSchema>;

/** Longest error message a task record keeps. */
export const TASK_MESSAGE_MAX = 2000;

export const TaskRecordSchema = Type.Object(
  {
    name: Type.Literal('tagsmith-task'),
    formatVersion: Type.Literal(1),
    task_id: TaskId,
    tag: Tag,
    options: TrainOptionsSchema,
    state: TaskStateSchema,
    stage: Type.Optional(Type.String({ maxLength: 200 })),
    progress: Probability,
    metrics: Type.Optional(TagMetricsSchema),
    error: Type.Optional(Type.Object({ code: Type.String({ pattern: '^[a-z_]{1,64}$' }), message: Type.String({ maxLength: TASK_MESSAGE_MAX }) }, closed)),
    createdAt: Timestamp,
    startedAt: Type.Optional(Timestamp),
    finishedAt: Type.Optional(Timestamp),
  },
  closed,
);
export type TaskRecord = Static<typeof TaskRecordSchema>;

// Types owned elsewhere (training options, task states and sample types are rules.ts's, scores
// an API output) are declared there; these lines stop the build if a schema and its type differ.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Holds<T extends true> = T;
export type SchemasMatchTheirTypes = [
  Holds<Same<Static<typeof TrainOptionsSchema>, TrainOptions>>,
  Holds<Same<Static<typeof ScoreSchema>, ScoreWithComponents>>,
  Holds<Same<TaskState, RuleTaskState>>,
  Holds<Same<SampleType, RuleSampleType>>,
];
