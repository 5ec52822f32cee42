// What travels over the engine's HTTP API, declared once: the engine builds these values, the
// endpoint table names which endpoint answers which, and the typed client hands them to the
// extension, notebooks and tests. Stored records stay in kernel/state; where a reply shows one
// (a sample), it is the same shape, and where the store keeps more than a client needs (a
// task's file header), the wire has its own type.
import type { BaseScores, ScoreWithComponents } from '../scores/base-scores';
import type { Box, KeywordHit, Keywords } from '../scores/keywords';
import type { SampleRecord, SampleType, TagMetrics, TaskRecord } from '../state/record-schemas';
import type { TagScore } from '../training/tag-model';
import type { TrainOptions } from '../training/train-options';

export type { BaseScores, Box, KeywordHit, Keywords, SampleRecord, SampleType, TagMetrics, TagScore, TrainOptions };

export interface TagSummary {
  tag: string;
  positives: number;
  negatives: number;
  trained: boolean;
  /** Samples changed since the model was trained. */
  stale: boolean;
  trainedAt?: string;
  options?: TrainOptions;
  metrics?: TagMetrics;
  /** Why an untrained tag with a model file is not served: it was trained on another backbone. */
  retrainReason?: string;
}

export interface AddSampleResult {
  tag: string;
  type: SampleType;
  sample: SampleRecord;
  /** false when the image already was a sample of that type (adding is idempotent). */
  added: boolean;
}

/** Why a sample's label looks wrong; nothing is relabelled by itself, the user decides. */
export interface SampleSuspicion {
  /** The score the tag gave this sample while it was held out of training (cross-validation). */
  heldOutScore?: number;
  /** How strongly that contradicts its label, 0–1: the probability it gave the other label. */
  disagreement?: number;
  /** A sample of the other kind that is nearly the same picture: one of the two labels is probably wrong. */
  duplicateOf?: string;
}

export type SampleView = SampleRecord & { suspicion?: SampleSuspicion };

export interface SampleListing {
  tag: string;
  positives: SampleView[];
  negatives: SampleView[];
  /** Samples flagged as suspicious. */
  suspicious: number;
}

export type SampleOrder = 'added' | 'suspicious';

export interface Prediction {
  base: BaseScores;
  custom: Record<string, TagScore>;
}

/** What `/get_features` returns and `/predict_by_features` takes: plain JSON a user can save. */
export interface FeaturesDocument {
  name: 'tagsmith-features';
  formatVersion: 1;
  /** The network the vector comes from: a vector is never scored by another one's tags. */
  backbone: string;
  features: number[];
  aesthetic: ScoreWithComponents;
  stock: ScoreWithComponents;
  /** The keywords model's per-class confidences: present when a tag trained with apply_keywords needs them. */
  keywords?: { model: string; vector: number[] };
}

/** A document as received: its base scores may be left out (tags that use them then refuse it). */
export type ReceivedFeatures = Omit<FeaturesDocument, 'aesthetic' | 'stock'> & { aesthetic?: ScoreWithComponents; stock?: ScoreWithComponents };

/** What /predict_by_features answers: the document's own base scores, which it may lack, and the nsfw head's. */
export interface FeaturesPrediction {
  base: Pick<BaseScores, 'nsfw'> & Partial<Pick<BaseScores, 'aesthetic' | 'stock'>>;
  custom: Record<string, TagScore>;
}

/** A task as clients see it: the stored record without its file header. */
export type TaskView = Omit<TaskRecord, 'name' | 'formatVersion'>;
export type TaskState = TaskView['state'];

export function taskView(record: TaskRecord): TaskView {
  const { name: _name, formatVersion: _formatVersion, ...view } = record;
  return view;
}

export interface TrainStarted {
  task_id: string;
  tag: string;
  state: TaskState;
  options: TrainOptions;
}

export interface CleanResult {
  tag: string;
  removedSamples: number;
  removedModel: boolean;
}

export interface RestoreResult {
  tags: number;
  samples: number;
}

export interface EngineCounts {
  tags: number;
  trainedTags: number;
  samples: number;
  images: number;
  tasksRunning: boolean;
}

/** Whether the `keywords` base model is installed; if not, why, and the command that installs it. */
export interface KeywordsStatus {
  installed: boolean;
  model?: string;
  reason?: string;
  install?: string;
}

export interface Health extends EngineCounts {
  status: 'ok';
  version: string;
  backbone: string;
  featureLength: number;
  stateDir: string;
  /** A replica (`tagsmith serve --read-only`): it answers every write `read_only`. */
  keywords: KeywordsStatus;
  readOnly: boolean;
  /** What a replica serves: absent on an engine that owns its state. */
  snapshot?: SnapshotInfo;
}

/** The snapshot a read-only replica serves: replicas with the same `sha256` score alike. */
export interface SnapshotInfo {
  /** `--state-archive FILE` or a `--state DIR` read in place. */
  source: 'archive' | 'state';
  /** The archive file or the state folder, as given. */
  path: string;
  /** The archive's sha256 (source `archive`). */
  sha256?: string;
  /** The generation folder served (a `--state DIR` replica follows its CURRENT pointer on reload). */
  generation: string;
  loadedAt: string;
}

export interface ReloadResult extends RestoreResult {
  snapshot: SnapshotInfo;
  /** Whether what is served changed (another archive, or another generation of the folder). */
  changed: boolean;
}

// ── scans ──────────────────────────────────────────────────────────────────────────────

export type ScanState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

export interface ScanProgressView {
  /** Image files found. */
  total: number;
  done: number;
  /** Embedded by the network in this scan. */
  embedded: number;
  /** Taken from a sample or the feature cache. */
  known: number;
  skipped: number;
  imagesPerSecond: number;
}

export interface SkippedFile {
  path: string;
  reason: string;
}

export interface ScanView {
  scan_id: string;
  state: ScanState;
  inputs: string[];
  progress: ScanProgressView;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** The scan finds (or found) each image's keywords. */
  keywords?: boolean;
  error?: { code: string; message: string };
  /** Once finished (or cancelled: what it did until then). */
  result?: {
    images: number;
    /** Files skipped, and why (the first 200; `skipped` counts them all). */
    skipped: SkippedFile[];
    /** Images each trained tag applies to, as scored now. */
    applies: Record<string, number>;
    /** Calls (applies or not) that changed when a tag was trained again and the scan re-scored. */
    changedCalls: Record<string, number>;
  };
}

export interface ScannedImageView {
  /** Position in the scan (stable: paths in walk order). */
  index: number;
  path: string;
  sha256: string;
  width: number;
  height: number;
  tags: Record<string, { score: number; threshold: number; applies: boolean }>;
  aesthetic: number;
  stock: number;
  nsfw: Record<string, number>;
  /** In a scan made with keywords: the COCO objects found. */
  keywords?: Keywords;
  /** With `tag`: the image is already a sample of it, and which kind. */
  sample?: SampleType;
  /** With `tag`: the call changed at the tag's last re-scoring. */
  changed?: boolean;
  /**
   * In the informative order once the tag's samples changed since training: the image's score
   * under the refit the queue is ranked by (its `tags` score stays the trained model's call).
   */
  reviewScore?: number;
}

export interface ScanPage {
  scan_id: string;
  /** Images matching the query, before paging. */
  total: number;
  offset: number;
  images: ScannedImageView[];
}

export type ScanOrder = 'path' | 'score' | 'informative';

export interface ScanQuery {
  offset?: number;
  limit?: number;
  /** Sort and filter by this tag's calls. */
  tag?: string;
  /** Only images the tag applies to (true) or not (false). */
  applies?: boolean;
  /** path (default), score (highest first), informative (the model's least sure first, re-ranked by a refit once the tag's samples changed since training, the two sides of its boundary in turn; samples left out). */
  order?: ScanOrder;
}

export type SidecarAction = 'preview' | 'write' | 'remove';
export type SidecarNaming = 'image-name.ext.xmp' | 'image-name.xmp';

export interface SidecarRequest {
  action: SidecarAction;
  /** Tags whose keyword is written where they apply (default: every trained tag); for remove, the keywords taken out (default: every one Tagsmith added). */
  tags?: string[];
  naming?: SidecarNaming;
  /** Also the keywords model's objects ("person", "dog") of a scan made with keywords. */
  includeKeywords?: boolean;
}

export interface SidecarChange {
  image: string;
  sidecar: string;
  /** The sidecar is new (nothing was there). */
  creates: boolean;
  add: string[];
  remove: string[];
}

export interface SidecarReport {
  action: SidecarAction;
  /** Sidecars that change (or would, for a preview); unchanged ones are left out. */
  changes: SidecarChange[];
  /** Images whose sidecar could not be read or written, and why; nothing of theirs was changed. */
  failed: { image: string; reason: string }[];
  /** Whether `changes` were written. */
  written: boolean;
}

// ── review and similarity ──────────────────────────────────────────────────────────────

/** informative: the model's least sure first (re-ranked by a refit once samples changed since training), the two sides of its boundary in turn, samples left out; applies / not-applies: the tag's calls, least sure (nearest the threshold) first. */
export type ReviewView = 'informative' | 'applies' | 'not-applies';

export interface ReviewQueue {
  tag: string;
  scan_id: string;
  view: ReviewView;
  /** Samples added to the tag since it was last trained: the reviews a retrain would learn from. */
  reviewedSinceTraining: number;
  /**
   * The informative view is ranked by a refit of the tag on its samples as they are now (they
   * changed since training), so it follows each decision; false: by the trained model's scores.
   */
  rerankedSinceTraining: boolean;
  /** The scan's calls that changed when the tag was last trained again. */
  changedCalls: number;
  total: number;
  offset: number;
  images: ScannedImageView[];
}

export interface SimilarSample {
  id: string;
  /** Every tag that has this image as a sample, and as which kind. */
  tags: { tag: string; type: SampleType }[];
  fileName?: string;
  similarity: number;
}

export interface SimilarImages {
  /** The scan searched (the newest finished one, unless asked for another); none if no scan. */
  scan_id?: string;
  images: (ScannedImageView & { similarity: number })[];
  samples: SimilarSample[];
}
