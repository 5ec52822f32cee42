// Which images to show a reviewer, and which samples look mislabelled. With the network fixed,
// what a tag learns from is the lever left on its quality: labelling the images the tag is
// least sure of teaches it more per label than labelling at random (bench:active measures how
// much), and a sample the cross-validated model confidently disagrees with when it is held out
// is more often mislabelled than not (Cleanlab's "confident learning" uses the same signal).

/**
 * The model's own boundary. Its fits are class-balanced, so 0.5 is where it is least sure which
 * side an image is on; the tag's threshold is chosen for the best F1 of its calls, which is a
 * question about the calls, not about what the model has yet to learn.
 */
export const MODEL_BOUNDARY = 0.5;

/**
 * "Most informative" review order: the images the model is least sure of, nearest its own
 * boundary, taking the nearest above it and the nearest below it in turn, so a round of
 * decisions is never all one kind. bench:active measured both halves of that choice against the
 * former order (nearest the tag's threshold) and random picks: centring on the boundary gained
 * most from 60 labels on, alternating sides most in the first rounds (docs/benchmarks.md).
 */
export function mostInformativeFirst(scores: ArrayLike<number>, exclude: ReadonlySet<number> = new Set(), firstSide: Side = 'above'): number[] {
  return alternatingSides(scores, MODEL_BOUNDARY, exclude, firstSide);
}

/** Which side of the boundary a queue starts on. */
export type Side = 'above' | 'below';

/**
 * The side a re-ranked queue starts on: the one whose label the tag has fewer of (above the
 * boundary for positives; ties above). The queue is re-ranked after each decision while the
 * panel has already moved to the next image, so the sides cannot simply alternate by position;
 * starting each re-rank where the labels are short keeps a run of decisions balanced whatever
 * the lag (bench:active: "review"). The queue of a freshly trained tag starts there too.
 */
export function sideWithFewerLabels(positives: number, negatives: number): Side {
  return positives > negatives ? 'below' : 'above';
}

/** Images nearest `centre` in log-odds first (ties by index). */
export function nearestFirst(scores: ArrayLike<number>, centre: number, exclude: ReadonlySet<number> = new Set()): number[] {
  const order: number[] = [];
  for (let i = 0; i < scores.length; i++) if (!exclude.has(i)) order.push(i);
  // In log-odds, where a step from 0.50 to 0.60 weighs like one from 0.90 to 0.93: distance to
  // a centre near 0 or 1 would otherwise crowd the queue with one side's confident calls.
  const t = logit(centre);
  const distance = (i: number) => Math.abs(logit(scores[i]) - t);
  return order.sort((a, b) => distance(a) - distance(b) || a - b);
}

/** Nearest `centre` first, alternately one at or above it and one below (`firstSide` first); when a side runs out, the rest of the other. */
export function alternatingSides(scores: ArrayLike<number>, centre: number, exclude: ReadonlySet<number> = new Set(), firstSide: Side = 'above'): number[] {
  const order = nearestFirst(scores, centre, exclude);
  const above = order.filter((i) => scores[i] >= centre);
  const below = order.filter((i) => scores[i] < centre);
  const [first, second] = firstSide === 'above' ? [above, below] : [below, above];
  const out: number[] = [];
  for (let k = 0; k < Math.max(above.length, below.length); k++) {
    if (k < first.length) out.push(first[k]);
    if (k < second.length) out.push(second[k]);
  }
  return out;
}

/** "Applies" view: the images the tag calls, least sure of the call (nearest its threshold) first: where its mistakes hide. */
export function appliesLeastSureFirst(scores: ArrayLike<number>, threshold: number, exclude: ReadonlySet<number> = new Set()): number[] {
  return nearestFirst(scores, threshold, exclude).filter((i) => scores[i] >= threshold);
}

/** "Doesn't apply" view: the images the tag rejects, least sure first. */
export function doesNotApplyLeastSureFirst(scores: ArrayLike<number>, threshold: number, exclude: ReadonlySet<number> = new Set()): number[] {
  return nearestFirst(scores, threshold, exclude).filter((i) => scores[i] < threshold);
}

export interface Suspicion {
  /** Index into the samples given. */
  index: number;
  /** How strongly the held-out model disagrees: the probability it gave the other label, 0..1. */
  disagreement: number;
}

/**
 * Samples whose out-of-fold score (the model trained without them) contradicts their label,
 * most confident contradiction first: a positive scored below the threshold, a negative at or
 * above it. Nothing is relabelled here; the user decides.
 */
export function suspiciousSamples(outOfFold: ArrayLike<number>, positive: ArrayLike<boolean>, threshold: number): Suspicion[] {
  const out: Suspicion[] = [];
  for (let i = 0; i < outOfFold.length; i++) {
    const s = outOfFold[i];
    if (positive[i] ? s < threshold : s >= threshold) out.push({ index: i, disagreement: positive[i] ? 1 - s : s });
  }
  return out.sort((a, b) => b.disagreement - a.disagreement || a.index - b.index);
}

function logit(p: number): number {
  const q = Math.min(1 - 1e-7, Math.max(1e-7, p));
  return Math.log(q / (1 - q));
}
