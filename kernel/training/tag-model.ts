// A trained tag: per-cluster logistic regressions over the backbone's power- and L2-normalised
// features (plus standardised base scores and keyword confidences when asked), with more than one cluster blended with
// a shared head, a threshold, and the metrics that chose them.
import { TagsmithError } from '../errors';
import { dotAt, dotFrom, sigmoid, type Vector } from '../ml/vectors';
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

/** The base scores of one input (what ScoringInput has besides the features). */
export type BaseScores = Pick<ScoringInput, 'aesthetic' | 'stock' | 'keywords'>;

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
    const { score, cluster } = this.scoreAt(features, 0, this.extrasOf(input));
    return { score, label: score >= this.json.threshold, threshold: this.json.threshold, cluster };
  }

  /**
   * Scores every row of a matrix of transformed features (`transformRows` with this model's
   * transform), `bases[i]` holding row i's base scores and `keywords[i]` its keyword
   * confidences (read only by a model trained with apply_keywords): a scan's re-scoring, with
   * nothing transformed per image, so 10,000 images cost a few dot products each.
   */
  scoreRows(
    rows: Float32Array,
    bases: readonly Pick<BaseScores, 'aesthetic' | 'stock'>[],
    keywords?: readonly (ArrayLike<number> | undefined)[],
  ): Float32Array {
    const d = this.json.featureLength;
    if (rows.length !== bases.length * d) {
      throw new TagsmithError('invalid_features', `expected ${bases.length} rows of ${d} features, got ${rows.length} numbers`);
    }
    const scores = new Float32Array(bases.length);
    for (let r = 0; r < bases.length; r++) {
      const extras = this.json.keywords ? this.extrasOf({ ...bases[r], keywords: keywords?.[r] }) : this.extrasOf(bases[r]);
      scores[r] = this.scoreAt(rows, r * d, extras).score;
    }
    return scores;
  }

  /** The best cluster's head, blended with the shared head if the model has one. */
  private scoreAt(x: Vector, offset: number, extras: readonly number[]): { score: number; cluster: number } {
    const d = this.json.featureLength;
    const head = (w: Float64Array, bias: number) => {
      let z = bias + dotAt(w, x, offset, d);
      for (let k = 0; k < extras.length; k++) z += w[d + k] * extras[k];
      return sigmoid(z);
    };
    const clusters = this.json.clusters;
    let best = { score: -1, cluster: 0 };
    for (let cluster = 0; cluster < this.vectors.length; cluster++) {
      const score = head(this.vectors[cluster], clusters[cluster].bias);
      if (score > best.score) best = { score, cluster };
    }
    const shared = this.json.shared;
    const score = shared && this.sharedVector ? shared.share * head(this.sharedVector, shared.bias) + (1 - shared.share) * best.score : best.score;
    return { score, cluster: best.cluster };
  }

  private extrasOf(bases: BaseScores): readonly number[] {
    return this.json.clusters[0].weights.length > this.json.featureLength ? extraInputs(bases, this.json) : NO_EXTRAS;
  }
}

/** Transformed feature vectors by transform, for one input. */
export type PreparedFeatures = Map<FeatureTransform, Float32Array>;

/** Every row of a feature matrix transformed (one matrix serves every tag with that transform). */
export function transformRows(features: Float32Array, featureLength: number, transform: FeatureTransform): Float32Array {
  const rows = new Float32Array(features.length);
  for (let offset = 0; offset < features.length; offset += featureLength) transformInto(features, rows, offset, featureLength, transform);
  return rows;
}

export function transformFeatures(features: ArrayLike<number>, transform: FeatureTransform): Float32Array {
  const out = new Float32Array(features.length);
  transformInto(features, out, 0, features.length, transform);
  return out;
}

/**
 * Writes the transform of `from[offset, offset + length)` to the same place in `to`: signed
 * square roots (sqrt-l2) or the values, then divided by their L2 norm. No array is made, which
 * is what lets a scan's 10,000 rows be transformed in one pass.
 */
function transformInto(from: ArrayLike<number>, to: Float32Array, offset: number, length: number, transform: FeatureTransform): void {
  const end = offset + length;
  const root = transform === 'sqrt-l2';
  for (let i = offset; i < end; i++) {
    const v = Math.fround(from[i]);
    to[i] = root ? (v < 0 ? -Math.sqrt(-v) : Math.sqrt(v)) : v;
  }
  const norm = Math.sqrt(dotFrom(to, to, offset, end));
  if (norm === 0) return;
  for (let i = offset; i < end; i++) to[i] /= norm;
}

type InputShape = Pick<TagModelJson, 'featureLength' | 'extras' | 'featureTransform' | 'keywords'>;

/** How many inputs a model reads after the features: base scores, then keyword confidences. */
export function extraLength(json: Pick<TagModelJson, 'extras' | 'keywords'>): number {
  return json.extras.length + (json.keywords?.mean.length ?? 0);
}

/** The vector a tag model sees: transformed features, then each standardised base score. */
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
function extraInputs(input: BaseScores, json: InputShape): number[] {
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
    throw new TagsmithError(
      'invalid_features',
      `this tag was trained with keywords (${k.model}); the input has ${values ? `${values.length} keyword confidences, not ${k.mean.length}` : 'none'}`,
    );
  }
  for (let i = 0; i < k.mean.length; i++) extras.push(((values[i] - k.mean[i]) / k.std[i]) * k.scale);
  return extras;
}
