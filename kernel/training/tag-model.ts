// A trained tag: per-cluster logistic regressions over the backbone's power- and L2-normalised
// features (plus standardised base scores when asked), with more than one cluster blended with
// a shared head, a threshold, and the metrics that chose them.
import { TagsmithError } from '../errors';
import { dotFrom, l2Normalised, sigmoid } from '../ml/vectors';
// The record's shape is the state's schema (kernel/state/record-schemas.ts); only its type is
// imported here, so training code stays free of the state's modules at run time.
import type { ClusterWeights, FeatureTransform, TagMetrics, TagModelJson } from '../state/record-schemas';

export type { ClusterWeights, FeatureTransform, TagMetrics, TagModelJson };

const NO_EXTRAS: number[] = [];

export const TAG_MODEL_NAME = 'tagsmith-tag-model';
export const TAG_MODEL_FORMAT = 1;

/** The inputs a tag model scores: the backbone vector and, if it uses them, base scores. */
export interface ScoringInput {
  features: ArrayLike<number>;
  aesthetic?: number;
  stock?: number;
  /** The keywords model's per-class confidences (what models trained with apply_keywords read). */
  keywords?: ArrayLike<number>;
}

export interface TagScore {
  score: number;
  label: boolean;
  threshold: number;
  cluster: number;
}

export class TagModel {
  private readonly vectors: Float64Array[];
  private readonly sharedVector: Float64Array | undefined;

  private constructor(readonly json: TagModelJson) {
    this.vectors = json.clusters.map((c) => Float64Array.from(c.weights));
    this.sharedVector = json.shared && Float64Array.from(json.shared.weights);
  }

  /**
   * A model from its record. The record must have been checked (kernel/state/stored-records.ts
   * `checkTagModel`, which every reader of model.json and of a training worker's output uses);
   * a trained one comes straight from trainTag.
   */
  static fromJSON(json: TagModelJson): TagModel {
    return new TagModel(json);
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
  get needs(): { aesthetic: boolean; stock: boolean; keywords: boolean } {
    return { aesthetic: this.json.options.apply_aesthetic_score, stock: this.json.options.apply_stock_score, keywords: !!this.json.keywords };
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
    const head = (w: Float64Array, bias: number) => {
      let z = bias + dotFrom(w, features, 0, d);
      for (let k = 0; k < extras.length; k++) z += w[d + k] * extras[k];
      return sigmoid(z);
    };
    let best = { score: -1, cluster: 0 };
    for (let cluster = 0; cluster < this.vectors.length; cluster++) {
      const score = head(this.vectors[cluster], clusters[cluster].bias);
      if (score > best.score) best = { score, cluster };
    }
    const shared = this.json.shared;
    const score = shared && this.sharedVector ? shared.share * head(this.sharedVector, shared.bias) + (1 - shared.share) * best.score : best.score;
    return { score, label: score >= this.json.threshold, threshold: this.json.threshold, cluster: best.cluster };
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

type InputShape = Pick<TagModelJson, 'featureLength' | 'extras' | 'featureTransform' | 'keywords'>;

/** How many inputs a model reads after the features: base scores, then keyword confidences. */
export function extraLength(json: Pick<TagModelJson, 'extras' | 'keywords'>): number {
  return json.extras.length + (json.keywords?.mean.length ?? 0);
}

export function modelInput(input: ScoringInput, json: InputShape, prepared: PreparedFeatures = new Map()): Float64Array {
  const x = new Float64Array(json.featureLength + extraLength(json));
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

/** The standardised base scores the model appends to the features, then its keyword block. */
function extraInputs(input: ScoringInput, json: InputShape): number[] {
  const extras = json.extras.map((extra) => {
    const value = input[extra.name];
    if (value === undefined || !Number.isFinite(value)) {
      throw new TagsmithError('invalid_features', `this tag was trained with the ${extra.name} score; the input has none`);
    }
    return (value - extra.mean) / extra.std;
  });
  const k = json.keywords;
  if (!k) return extras;
  const values = input.keywords;
  if (!values || values.length !== k.mean.length) {
    throw new TagsmithError('invalid_features', `this tag was trained with keywords (${k.model}); the input has ${values ? `${values.length} keyword confidences, not ${k.mean.length}` : 'none'}`);
  }
  for (let i = 0; i < k.mean.length; i++) extras.push(((values[i] - k.mean[i]) / k.std[i]) * k.scale);
  return extras;
}
