// Orders bench:active compares with the product's review queue (kernel/training/review-order.ts:
// nearest 0.5, the two sides in turn, chosen from these) and with random picks: each one is what the queue could do given what a scan holds (every
// image's score, the tag's threshold and the cached features), so a winner can move into the
// product unchanged. Kept beside the bench, not in kernel/, because they are experiments.
import { alternatingSides, MODEL_BOUNDARY, nearestFirst } from '../../kernel/training/review-order';

export interface ReviewContext {
  /** The tag's score of each pool image. */
  scores: number[];
  threshold: number;
  /** The pool's prepared feature rows (kernel/ml/similarity.ts prepareRows), row i for image i. */
  pool: Float32Array;
  /** The labelled samples' prepared rows. */
  labelled: Float32Array;
  dim: number;
}

export type ReviewOrder = (context: ReviewContext) => number[];

/** Mean cosine similarity of each pool row to the whole pool: how typical an image is. */
function density(pool: Float32Array, dim: number): Float64Array {
  const n = pool.length / dim;
  const sum = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) sum[j] += pool[i * dim + j];
  // The mean of dot products with every row is the dot product with their sum, over n.
  return Float64Array.from({ length: n }, (_, i) => {
    let s = 0;
    for (let j = 0; j < dim; j++) s += pool[i * dim + j] * sum[j];
    return s / n;
  });
}

function logit(p: number): number {
  const q = Math.min(1 - 1e-7, Math.max(1e-7, p));
  return Math.log(q / (1 - q));
}

/** Greedy k-center: each pick the pool image farthest (in cosine) from everything labelled or picked. */
function farthestFirst(context: ReviewContext, count: number): number[] {
  const { pool, labelled, dim } = context;
  const n = pool.length / dim;
  const nearest = new Float64Array(n).fill(-Infinity);
  const update = (rows: Float32Array, r: number) => {
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < dim; j++) s += pool[i * dim + j] * rows[r * dim + j];
      if (s > nearest[i]) nearest[i] = s;
    }
  };
  for (let r = 0; r < labelled.length / dim; r++) update(labelled, r);
  const out: number[] = [];
  const taken = new Set<number>();
  while (out.length < Math.min(count, n)) {
    let best = -1;
    for (let i = 0; i < n; i++) if (!taken.has(i) && (best < 0 || nearest[i] < nearest[best])) best = i;
    out.push(best);
    taken.add(best);
    update(pool, best);
  }
  return out;
}

export const CANDIDATES: Record<string, ReviewOrder> = {
  /** The product's order until bench:active chose today's: nearest the tag's threshold in log-odds. */
  threshold: ({ scores, threshold }) => nearestFirst(scores, threshold),
  /** Nearest the model's own boundary (probability 0.5; its fits are class-balanced), one side or the other. */
  logit0: ({ scores }) => nearestFirst(scores, MODEL_BOUNDARY),
  /** Nearest the threshold, alternately above and below, so a round is never one class. */
  'balanced-threshold': ({ scores, threshold }) => alternatingSides(scores, threshold),
  /** Uncertainty (nearness to the threshold) times typicality (mean cosine to the pool). */
  density: (context) => {
    const t = logit(context.threshold);
    const typical = density(context.pool, context.dim);
    const weight = context.scores.map((s, i) => typical[i] / (1 + Math.abs(logit(s) - t)));
    return weight.map((_, i) => i).sort((a, b) => weight[b] - weight[a] || a - b);
  },
  /** While fewer than 40 are labelled, the most novel images first; then nearest the threshold. */
  'cold-start': (context) => {
    if (context.labelled.length / context.dim < 40) {
      const diverse = farthestFirst(context, 20);
      const rest = new Set(diverse);
      return [...diverse, ...nearestFirst(context.scores, context.threshold, rest)];
    }
    return nearestFirst(context.scores, context.threshold);
  },
};
