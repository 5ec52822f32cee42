// A trained tag: per-cluster logistic regressions over the backbone's L2-normalised features
// (plus standardised base scores when asked), a threshold, and the metrics that chose it.
import { TagsmithError } from '../errors';
import { dotFrom, l2Normalised, sigmoid } from '../ml/vectors';

const NO_EXTRAS: number[] = [];
import type { TrainOptions } from './train-options';

export const TAG_MODEL_NAME = 'tagsmith-tag-model';
export const TAG_MODEL_FORMAT = 1;

/** The inputs a tag model scores: the backbone vector and, if it uses them, base scores. */
export interface ScoringInput {
  features: ArrayLike<number>;
  aesthetic?: number;
  stock?: number;
}

export interface ClusterWeights {
  weights: number[];
  bias: number;
  size: number;
}

export interface TagMetrics {
  folds: number;
  positives: number;
  negatives: number;
  threshold: number;
  precision: number;
  recall: number;
  f1: number;
  accuracy: number;
  rocAuc: number;
  confusion: { truePositives: number; falsePositives: number; trueNegatives: number; falseNegatives: number };
  /** Out-of-fold score counts in 20 bins over [0, 1]. */
  histogram: { positives: number[]; negatives: number[] };
  roc: { fpr: number; tpr: number }[];
  clusterSizes: number[];
  l2: number;
}

/**
 * How a backbone vector is prepared: `sqrt-l2` takes the signed square root of each component
 * (power normalisation, which tames a few dominant activations) and then L2-normalises.
 */
export type FeatureTransform = 'l2' | 'sqrt-l2';

export interface TagModelJson {
  name: typeof TAG_MODEL_NAME;
  formatVersion: typeof TAG_MODEL_FORMAT;
  tag: string;
  backbone: string;
  featureLength: number;
  featureTransform: FeatureTransform;
  options: TrainOptions;
  /** Mean and standard deviation of each appended base score, from the training samples. */
  extras: { name: 'aesthetic' | 'stock'; mean: number; std: number }[];
  clusters: ClusterWeights[];
  threshold: number;
  metrics: TagMetrics;
  trainedAt: string;
  /** Hash of the sample set it was trained on, so the gallery can tell when it is stale. */
  samplesDigest: string;
}

export interface TagScore {
  score: number;
  label: boolean;
  threshold: number;
  cluster: number;
}

export class TagModel {
  private readonly vectors: Float64Array[];

  private constructor(readonly json: TagModelJson) {
    this.vectors = json.clusters.map((c) => Float64Array.from(c.weights));
  }

  static fromJSON(value: unknown, source = 'model'): TagModel {
    const json = value as Partial<TagModelJson> | null;
    const fail = (why: string): never => {
      throw new TagsmithError('invalid_archive', `${source}: ${why}`);
    };
    if (!json || typeof json !== 'object') fail('not a JSON object');
    if (json!.name !== TAG_MODEL_NAME) fail(`not a Tagsmith tag model (name ${String(json!.name)})`);
    if (json!.formatVersion !== TAG_MODEL_FORMAT) fail(`unknown tag model format ${String(json!.formatVersion)}`);
    const m = json as TagModelJson;
    if (typeof m.tag !== 'string' || typeof m.backbone !== 'string' || !Number.isInteger(m.featureLength)) fail('missing tag, backbone or featureLength');
    if (!Array.isArray(m.clusters) || m.clusters.length === 0) fail('no clusters');
    const width = m.featureLength + (m.extras?.length ?? 0);
    for (const c of m.clusters) {
      if (!Array.isArray(c.weights) || c.weights.length !== width || !c.weights.every(Number.isFinite) || !Number.isFinite(c.bias)) {
        fail('cluster weights of the wrong length or not finite');
      }
    }
    if (!Number.isFinite(m.threshold)) fail('threshold is not a number');
    if (m.featureTransform !== 'l2' && m.featureTransform !== 'sqrt-l2') fail(`unknown feature transform ${String(m.featureTransform)}`);
    return new TagModel(m);
  }

  toJSON(): TagModelJson {
    return this.json;
  }

  get tag(): string {
    return this.json.tag;
  }

  get backbone(): string {
    return this.json.backbone;
  }

  /** Which base scores the model needs besides the features. */
  get needs(): { aesthetic: boolean; stock: boolean } {
    return { aesthetic: this.json.options.apply_aesthetic_score, stock: this.json.options.apply_stock_score };
  }

  /**
   * Scores one input. `prepared` caches the transformed feature vector between tags that
   * share a transform, so scoring one image against 50 tags transforms it once.
   */
  score(input: ScoringInput, prepared: PreparedFeatures = new Map()): TagScore {
    // The same arithmetic as dot(w, modelInput(...)), without building the input vector:
    // this is the hot path of predict_by_features.
    const features = preparedFeatures(input, this.json, prepared);
    const clusters = this.json.clusters;
    const d = this.json.featureLength;
    const extras = clusters[0].weights.length > d ? extraInputs(input, this.json) : NO_EXTRAS;
    let best = { score: -1, cluster: 0 };
    for (let cluster = 0; cluster < this.vectors.length; cluster++) {
      const w = this.vectors[cluster];
      let z = clusters[cluster].bias + dotFrom(w, features, 0, d);
      for (let k = 0; k < extras.length; k++) z += w[d + k] * extras[k];
      const score = sigmoid(z);
      if (score > best.score) best = { score, cluster };
    }
    return { score: best.score, label: best.score >= this.json.threshold, threshold: this.json.threshold, cluster: best.cluster };
  }
}

/** The vector a tag model sees: L2-normalised features, then each standardised base score. */
/** Transformed feature vectors by transform, for one input. */
export type PreparedFeatures = Map<FeatureTransform, Float32Array>;

export function transformFeatures(features: ArrayLike<number>, transform: FeatureTransform): Float32Array {
  const raw = Float32Array.from(features);
  if (transform === 'sqrt-l2') {
    for (let i = 0; i < raw.length; i++) raw[i] = Math.sign(raw[i]) * Math.sqrt(Math.abs(raw[i]));
  }
  return l2Normalised(raw);
}

type InputShape = Pick<TagModelJson, 'featureLength' | 'extras' | 'featureTransform'>;

export function modelInput(input: ScoringInput, json: InputShape, prepared: PreparedFeatures = new Map()): Float64Array {
  const x = new Float64Array(json.featureLength + json.extras.length);
  x.set(preparedFeatures(input, json, prepared));
  x.set(extraInputs(input, json), json.featureLength);
  return x;
}

function preparedFeatures(input: ScoringInput, json: InputShape, prepared: PreparedFeatures): Float32Array {
  if (input.features.length !== json.featureLength) {
    throw new TagsmithError('invalid_features', `expected ${json.featureLength} features, got ${input.features.length}`);
  }
  let transformed = prepared.get(json.featureTransform);
  if (!transformed) {
    transformed = transformFeatures(input.features, json.featureTransform);
    prepared.set(json.featureTransform, transformed);
  }
  return transformed;
}

/** The standardised base scores the model appends to the features. */
function extraInputs(input: ScoringInput, json: InputShape): number[] {
  return json.extras.map((extra) => {
    const value = input[extra.name];
    if (value === undefined || !Number.isFinite(value)) {
      throw new TagsmithError('invalid_features', `this tag was trained with the ${extra.name} score; the input has none`);
    }
    return (value - extra.mean) / extra.std;
  });
}
