// What travels over the engine's HTTP API, declared once: the engine builds these values, the
// endpoint table names which endpoint answers which, and the typed client hands them to the
// extension, notebooks and tests. Stored records stay in kernel/state; where a reply shows one
// (a sample), it is the same shape, and where the store keeps more than a client needs (a
// task's file header), the wire has its own type.
import type { BaseScores, ScoreWithComponents } from '../scores/base-scores';
import type { SampleRecord, SampleType, TagMetrics, TaskRecord } from '../state/record-schemas';
import type { TagScore } from '../training/tag-model';
import type { TrainOptions } from '../training/train-options';

export type { BaseScores, SampleRecord, SampleType, TagMetrics, TagScore, TrainOptions };

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
  retrain?: string;
}

export interface AddSampleResult {
  tag: string;
  type: SampleType;
  sample: SampleRecord;
  /** false when the image already was a sample of that type (adding is idempotent). */
  added: boolean;
}

export interface SampleListing {
  tag: string;
  positives: SampleRecord[];
  negatives: SampleRecord[];
}

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

export interface Health extends EngineCounts {
  status: 'ok';
  version: string;
  backbone: string;
  featureLength: number;
  stateDir: string;
}
