// Between trainings the review queue follows the reviewer's decisions: after each one, the tag's
// head is refitted on its samples as they are now and the queue re-ranked by it. bench:active
// measured why: re-ranked after every decision, the queue reached on hymenoptera's balanced pool
// with 60 labels what random picks reach with 100, where re-ranking only at each training (every
// 20 labels) needed 80 (docs/benchmarks.md). The refit is one class-balanced head at the penalty
// training chose, started from the trained head, without cross-validation: tens of milliseconds,
// and it never replaces the tag's model (its calls, threshold and metrics stay training's).
import { TagsmithError } from '../errors';
import { fitLogistic, type LogisticModel } from '../ml/logistic-regression';
import { modelInput, TagModel, type ScoringInput } from './tag-model';

/**
 * As tight as training's final fit, and always started from the trained head: the same samples
 * then give the same queue whatever came before (an undo and the same decision again, a restart).
 * A looser stop left warm-started chains of refits measurably apart from the optimum.
 */
const REFIT_TOLERANCE = 1e-5;
const REFIT_MAX_ITERATIONS = 200;

/**
 * `model`'s head refitted on `positives` and `negatives` (the tag's samples now): a one-head model
 * over the same inputs (feature transform, base scores, keywords) for ranking the review queue.
 * The options' defaults are the product's; bench:active measured the others (review-loose: the
 * looser tolerance; review-prior: the penalty on the distance from the trained head) and neither
 * did better (docs/benchmarks.md).
 */
export function refitForReview(
  model: TagModel,
  positives: readonly ScoringInput[],
  negatives: readonly ScoringInput[],
  { tolerance = REFIT_TOLERANCE, towardTrained = false }: { tolerance?: number; towardTrained?: boolean } = {},
): TagModel {
  if (positives.length + negatives.length === 0) throw new TagsmithError('not_enough_samples', `Tag "${model.tag}" has no samples to refit.`);
  const json = model.json;
  const x = [...positives, ...negatives].map((s) => modelInput(s, json));
  const y = x.map((_, i) => (i < positives.length ? 1 : 0));
  // Class-balanced, as training's fits are, so 0.5 stays the boundary the queue is centred on.
  const weights = y.map((v) => (v === 1 ? x.length / (2 * Math.max(1, positives.length)) : x.length / (2 * Math.max(1, negatives.length))));
  const trained = wholeTagHead(model);
  const fit = fitLogistic(x, y, weights, {
    l2: json.metrics.l2,
    tolerance,
    maxIterations: REFIT_MAX_ITERATIONS,
    init: trained,
    ...(towardTrained ? { prior: trained.weights } : {}),
  });
  const { shared: _shared, ...rest } = json;
  return TagModel.fromJSON({ ...rest, clusters: [{ weights: Array.from(fit.weights), bias: fit.bias, size: positives.length }] });
}

/** The head that speaks for the whole tag: the shared one of a clustered tag, else the mean of its cluster heads. */
function wholeTagHead(model: TagModel): LogisticModel {
  const { shared, clusters } = model.json;
  if (shared) return { weights: Float64Array.from(shared.weights), bias: shared.bias };
  const weights = new Float64Array(clusters[0].weights.length);
  for (const c of clusters) for (let j = 0; j < weights.length; j++) weights[j] += c.weights[j] / clusters.length;
  return { weights, bias: clusters.reduce((sum, c) => sum + c.bias, 0) / clusters.length };
}
