// Orders bench:active compares with the product's review queue and with random picks, and the
// simulation of the panel that serves the product's order (reviewPanel: nearest 0.5 under a refit
// after each decision, kernel/training/review-order.ts and review-refit.ts). Each one is
// what the queue could do given what a scan holds (every image's score, the tag's threshold
// and the cached features) and what training has (the labelled samples and the trained model):
// the committee and expected-error orders refit heads from the labelled samples, which in the
// product would need training to keep its fold models. Kept beside the bench, not in kernel/,
// because they are experiments; docs/benchmarks.md (bench:active) has what each measured.
import { fitLogistic, type LogisticModel } from '../../kernel/ml/logistic-regression';
import { seededRandom } from '../../kernel/ml/random';
import { stratifiedFolds } from '../../kernel/ml/stratified-folds';
import { alternatingSides, MODEL_BOUNDARY, mostInformativeFirst, nearestFirst, sideWithFewerLabels, type Side } from '../../kernel/training/review-order';
import { refitForReview } from '../../kernel/training/review-refit';
import type { ScoringInput, TagModel } from '../../kernel/training/tag-model';

export interface ReviewContext {
  /** The tag's score of each pool image. */
  scores: number[];
  threshold: number;
  /** The pool's prepared feature rows (kernel/ml/similarity.ts prepareRows), row i for image i. */
  pool: Float32Array;
  /** The labelled samples' prepared rows. */
  labelled: Float32Array;
  /** Whether each labelled sample is a positive, row for row with `labelled`. */
  labelledPositive: boolean[];
  /** The tag's trained model (its chosen L2 penalty is in json.metrics.l2). */
  model: TagModel;
  dim: number;
  /** The reviewer's decision on pool image i, known once it has been shown (sequential orders only). */
  answer?: (i: number) => boolean;
  /** The pool's and the labelled samples' inputs as training reads them (sequential orders refit from these). */
  poolInputs?: ScoringInput[];
  labelledInputs?: ScoringInput[];
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

const ROUND = 20;

function rowsOf(matrix: Float32Array, dim: number): Float64Array[] {
  return Array.from({ length: matrix.length / dim }, (_, i) => Float64Array.from(matrix.subarray(i * dim, (i + 1) * dim)));
}

function logOdds(model: LogisticModel, row: Float64Array): number {
  let z = model.bias;
  for (let j = 0; j < row.length; j++) z += model.weights[j] * row[j];
  return z;
}

/** Class-balanced logistic fit of some labelled rows at the tag's L2 penalty (one head, as a 1-cluster tag). */
function fitSome(x: Float64Array[], y: number[], subset: number[], l2: number): LogisticModel {
  const rows = subset.map((i) => x[i]);
  const labels = subset.map((i) => y[i]);
  const positives = labels.filter((l) => l === 1).length;
  const weights = labels.map((l) => (l === 1 ? rows.length / (2 * positives) : rows.length / (2 * (rows.length - positives))));
  return fitLogistic(rows, labels, weights, { l2, tolerance: 1e-4, maxIterations: 200 });
}

/**
 * Committee of `members` logistic fits, each on the labelled samples less one stratified fold
 * (the cross-validation fold models at the chosen penalty, as training could keep them), or on a
 * class-stratified bootstrap resample: each pool image's log-odds per member.
 */
function committee(context: ReviewContext, kind: 'folds' | 'bootstrap', members = 5): Float64Array[] {
  const { dim, model } = context;
  const x = rowsOf(context.labelled, dim);
  const y = context.labelledPositive.map((p) => (p ? 1 : 0));
  const l2 = model.json.metrics.l2;
  const pool = rowsOf(context.pool, dim);
  const subsets: number[][] = [];
  if (kind === 'folds') {
    const k = Math.min(members, y.filter((v) => v === 1).length, y.filter((v) => v === 0).length);
    const fold = stratifiedFolds(y, k, 42);
    for (let f = 0; f < k; f++) subsets.push(x.map((_, i) => i).filter((i) => fold[i] !== f));
  } else {
    const random = seededRandom(x.length * 7919 + 13);
    for (let m = 0; m < members; m++) {
      const subset: number[] = [];
      for (const cls of [0, 1]) {
        const ofClass = x.map((_, i) => i).filter((i) => y[i] === cls);
        for (let k = 0; k < ofClass.length; k++) subset.push(ofClass[Math.floor(random() * ofClass.length)]);
      }
      subsets.push(subset);
    }
  }
  return subsets.map((subset) => {
    const fit = fitSome(x, y, subset, l2);
    return Float64Array.from(pool, (row) => logOdds(fit, row));
  });
}

/** Per pool image: the committee's mean log-odds and their standard deviation. */
function spread(votes: Float64Array[]): { mean: Float64Array; sd: Float64Array } {
  const n = votes[0].length;
  const mean = new Float64Array(n);
  const sd = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (const v of votes) s += v[i];
    mean[i] = s / votes.length;
    let q = 0;
    for (const v of votes) q += (v[i] - mean[i]) ** 2;
    sd[i] = Math.sqrt(q / Math.max(1, votes.length - 1));
  }
  return { mean, sd };
}

/** Vote entropy: how evenly the committee's members split between the two sides (ties by spread of log-odds). */
function voteEntropy(votes: Float64Array[]): Float64Array {
  const { sd } = spread(votes);
  return Float64Array.from(votes[0], (_, i) => {
    const yes = votes.filter((v) => v[i] >= 0).length / votes.length;
    const h = yes === 0 || yes === 1 ? 0 : -(yes * Math.log(yes) + (1 - yes) * Math.log(1 - yes));
    return h + 1e-3 * sd[i];
  });
}

function byDescending(weight: ArrayLike<number>): number[] {
  return Array.from({ length: weight.length }, (_, i) => i).sort((a, b) => weight[b] - weight[a] || a - b);
}

/** Nearest 0.5 alternating sides, but `probability` instead of the tag's scores. */
function sidesOf(probability: ArrayLike<number>): number[] {
  return alternatingSides(probability, MODEL_BOUNDARY);
}

function cosineRow(a: Float32Array, i: number, b: Float32Array, j: number, dim: number): number {
  let s = 0;
  for (let k = 0; k < dim; k++) s += a[i * dim + k] * b[j * dim + k];
  return s;
}

/**
 * Batch diversity: from the first `shortlist` of `order`, greedy picks that each maximise
 * `weight(i) · (1 − max cosine to anything labelled or picked)`, so a round's picks are not
 * near-duplicates; the rest of `order` follows.
 */
function diverseBatch(context: ReviewContext, order: number[], shortlist: number, weight: (i: number) => number = () => 1): number[] {
  const { pool, labelled, dim } = context;
  const candidates = order.slice(0, shortlist);
  const nearest = new Map<number, number>(candidates.map((i) => [i, -1]));
  for (const i of candidates) {
    let best = -1;
    for (let r = 0; r < labelled.length / dim; r++) best = Math.max(best, cosineRow(pool, i, labelled, r, dim));
    nearest.set(i, best);
  }
  const out: number[] = [];
  while (out.length < Math.min(ROUND, candidates.length)) {
    let best = -1;
    let bestValue = -Infinity;
    for (const i of candidates) {
      if (out.includes(i)) continue;
      const value = weight(i) * (1 - nearest.get(i)!);
      if (value > bestValue) [best, bestValue] = [i, value];
    }
    out.push(best);
    for (const i of candidates) nearest.set(i, Math.max(nearest.get(i)!, cosineRow(pool, i, pool, best, dim)));
  }
  const taken = new Set(out);
  return [...out, ...order.filter((i) => !taken.has(i))];
}

/**
 * BADGE (Ash et al. 2020) for a binary logistic head: the gradient embedding of the loss at the
 * model's own guess, (p − ŷ)·x, and k-means++ seeding over those (first the largest, then drawn
 * in proportion to squared distance from the nearest chosen): uncertain and mutually distinct.
 */
function badge(context: ReviewContext, seed: number): number[] {
  const { pool, dim, scores } = context;
  const n = scores.length;
  const g = Float64Array.from(scores, (p) => (p >= 0.5 ? p - 1 : p)); // p − ŷ: its length times x's (unit) is the gradient's
  // ‖g_i − g_j‖² = g_i² + g_j² − 2 g_i g_j cos(x_i, x_j)
  const distance = (i: number, j: number) => Math.max(0, g[i] * g[i] + g[j] * g[j] - 2 * g[i] * g[j] * cosineRow(pool, i, pool, j, dim));
  const random = seededRandom(seed);
  let first = 0;
  for (let i = 1; i < n; i++) if (Math.abs(g[i]) > Math.abs(g[first])) first = i;
  const out = [first];
  const nearest = Float64Array.from({ length: n }, (_, i) => distance(i, first));
  while (out.length < Math.min(ROUND, n)) {
    const total = nearest.reduce((a, b) => a + b, 0);
    let target = random() * total;
    let pick = -1;
    for (let i = 0; i < n; i++) {
      if (nearest[i] <= 0) continue;
      pick = i;
      target -= nearest[i];
      if (target <= 0) break;
    }
    if (pick < 0) break;
    out.push(pick);
    for (let i = 0; i < n; i++) nearest[i] = Math.min(nearest[i], distance(i, pick));
  }
  const taken = new Set(out);
  return [...out, ...alternatingSides(scores, MODEL_BOUNDARY, taken)];
}

/**
 * Expected error reduction (Roy & McCallum 2001), over a shortlist of the nearest the boundary:
 * for each candidate and each label it could get, the tag's head refitted with it (warm start,
 * the tag's L2), and the pool's expected error after (mean min(p, 1 − p)), weighed by the
 * current model's probability of that label. Least expected error first.
 */
function expectedErrorReduction(context: ReviewContext, shortlist: number): number[] {
  const { dim, model, scores } = context;
  const x = rowsOf(context.labelled, dim);
  const y = context.labelledPositive.map((p) => (p ? 1 : 0));
  const pool = rowsOf(context.pool, dim);
  const head = model.json.clusters[0];
  const init = { weights: Float64Array.from(head.weights), bias: head.bias };
  const l2 = model.json.metrics.l2;
  const order = alternatingSides(scores, MODEL_BOUNDARY);
  const candidates = order.slice(0, shortlist);
  const risk = new Map<number, number>();
  for (const i of candidates) {
    let expected = 0;
    for (const label of [0, 1]) {
      const rows = [...x, pool[i]];
      const labels = [...y, label];
      const positives = labels.filter((l) => l === 1).length;
      const weights = labels.map((l) => (l === 1 ? rows.length / (2 * positives) : rows.length / (2 * (rows.length - positives))));
      const fit = fitLogistic(rows, labels, weights, { l2, tolerance: 1e-4, maxIterations: 100, init });
      let error = 0;
      for (const row of pool) {
        const p = 1 / (1 + Math.exp(-logOdds(fit, row)));
        error += Math.min(p, 1 - p);
      }
      expected += (label === 1 ? scores[i] : 1 - scores[i]) * error;
    }
    risk.set(i, expected);
  }
  const ranked = [...candidates].sort((a, b) => risk.get(a)! - risk.get(b)! || a - b);
  return [...ranked, ...order.slice(shortlist)];
}

/**
 * The queue re-ranked after every decision, as a panel could between key presses: each decision
 * joins the labelled rows, the head is refitted (warm start, the tag's L2) and the pool re-scored
 * before the next image is shown; `alternate` takes the two sides of the boundary in turn.
 */
function sequential(context: ReviewContext, alternate: boolean): number[] {
  const { dim, model, answer } = context;
  if (!answer) throw new Error("sequential orders need the reviewer's answers");
  const x = rowsOf(context.labelled, dim);
  const y = context.labelledPositive.map((p) => (p ? 1 : 0));
  const pool = rowsOf(context.pool, dim);
  const l2 = model.json.metrics.l2;
  const head = model.json.clusters[0];
  let fit: LogisticModel = { weights: Float64Array.from(head.weights), bias: head.bias };
  let probability = Float64Array.from(context.scores);
  const out: number[] = [];
  const taken = new Set<number>();
  while (out.length < Math.min(ROUND, pool.length)) {
    const order = nearestFirst(probability, MODEL_BOUNDARY, taken);
    const wantAbove = out.length % 2 === 0;
    const pick = (alternate ? order.find((i) => probability[i] >= MODEL_BOUNDARY === wantAbove) : undefined) ?? order[0];
    out.push(pick);
    taken.add(pick);
    x.push(pool[pick]);
    y.push(answer(pick) ? 1 : 0);
    const positives = y.filter((l) => l === 1).length;
    const weights = y.map((l) => (l === 1 ? y.length / (2 * positives) : y.length / (2 * (y.length - positives))));
    fit = fitLogistic(x, y, weights, { l2, tolerance: 1e-4, maxIterations: 200, init: fit });
    probability = Float64Array.from(pool, (row) => 1 / (1 + Math.exp(-logOdds(fit, row))));
  }
  return [...out, ...alternatingSides(probability, MODEL_BOUNDARY, taken)];
}

/** What decides the side a re-ranked queue starts on: the decisions since training and the labels so far. */
type SideRule = (state: { decided: number; positives: number; negatives: number }) => Side;

/**
 * The review panel as it behaves, with the kernel's refit (refitForReview): the reviewer decides
 * the focused card; the focus moves at once to the next card shown; the queue re-ranked after
 * the decision reorders the cards after the focused one. With `lag` 1 each pick so comes from
 * the ranking made one decision earlier (the focused card is never swapped under the reviewer);
 * with 0 from the ranking after the last decision (the ideal).
 */
export function reviewPanel(context: ReviewContext, side: SideRule, lag: 0 | 1, refit: { tolerance?: number; towardTrained?: boolean } = {}): number[] {
  const { model, answer, poolInputs, labelledInputs } = context;
  if (!answer || !poolInputs || !labelledInputs) throw new Error("the panel order needs the reviewer's answers and the inputs");
  const positives = labelledInputs.filter((_, i) => context.labelledPositive[i]);
  const negatives = labelledInputs.filter((_, i) => !context.labelledPositive[i]);
  const state = () => ({ decided: out.length, positives: positives.length, negatives: negatives.length });
  const out: number[] = [];
  const taken = new Set<number>();
  let shown = mostInformativeFirst(context.scores, taken, side(state()));
  while (out.length < Math.min(ROUND, poolInputs.length)) {
    const focused = shown.find((i) => !taken.has(i))!;
    out.push(focused);
    taken.add(focused);
    (answer(focused) ? positives : negatives).push(poolInputs[focused]);
    const refitted = refitForReview(model, positives, negatives, refit);
    const scores = poolInputs.map((input) => refitted.score(input).score);
    if (lag === 0) shown = mostInformativeFirst(scores, taken, side(state()));
    else {
      const next = shown.find((i) => !taken.has(i));
      const rest = mostInformativeFirst(scores, new Set([...taken, ...(next === undefined ? [] : [next])]), side(state()));
      shown = next === undefined ? rest : [next, ...rest];
    }
  }
  return [...out, ...shown.filter((i) => !taken.has(i))];
}

/** The product's rule: the side the tag has fewer labels of first. */
export const fewerLabels: SideRule = ({ positives, negatives }) => sideWithFewerLabels(positives, negatives);

function uncertainty(p: number): number {
  return 1 / (1 + Math.abs(logit(p)));
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
  /** Query-by-committee: the 5 fold models (labelled samples less one fold, the tag's L2) disagreeing most (sd of log-odds). */
  'qbc-folds': (context) => byDescending(spread(committee(context, 'folds')).sd),
  /** The same with vote entropy (how evenly the members split), ties by spread. */
  'qbc-vote': (context) => byDescending(voteEntropy(committee(context, 'folds'))),
  /** A bootstrap committee of 8, sd of log-odds. */
  'qbc-bootstrap': (context) => byDescending(spread(committee(context, 'bootstrap', 8)).sd),
  /** The committee's doubt of the sign: smallest |mean log-odds| / sd first, the two sides in turn. */
  'qbc-sides': (context) => {
    const { mean, sd } = spread(committee(context, 'folds'));
    // A probability whose log-odds are mean/sd: nearest 0.5 is where the committee least agrees on the side.
    return sidesOf(Float64Array.from(mean, (m, i) => 1 / (1 + Math.exp(-m / Math.max(sd[i], 1e-6)))));
  },
  /** Among the 3 rounds' worth nearest the boundary (alternating sides), a diverse batch. */
  'margin-diverse': (context) => diverseBatch(context, alternatingSides(context.scores, MODEL_BOUNDARY), 3 * ROUND),
  /** The same from 2 rounds' worth. */
  'margin-diverse2': (context) => diverseBatch(context, alternatingSides(context.scores, MODEL_BOUNDARY), 2 * ROUND),
  /** Uncertainty times distance to everything labelled or picked, over the whole pool. */
  'uncertain-far': (context) => {
    const order = alternatingSides(context.scores, MODEL_BOUNDARY);
    return diverseBatch(context, order, order.length, (i) => uncertainty(context.scores[i]));
  },
  /** BADGE: k-means++ over gradient embeddings. */
  badge: (context) => badge(context, context.labelled.length / context.dim),
  /** Expected error reduction over the 40 nearest the boundary. */
  eer: (context) => expectedErrorReduction(context, 2 * ROUND),
  /** Uncertainty sampling made soft: drawn without replacement with weight e^(−|log-odds|) (less sampling bias). */
  'soft-uncertain': (context) => {
    const random = seededRandom(context.labelled.length / context.dim + 1);
    const keys = Array.from(context.scores, (p) => Math.log(random()) / Math.exp(-Math.abs(logit(p)))); // Efraimidis–Spirakis
    return byDescending(keys);
  },
  /** Re-ranked after every decision with no lag, the sides in turn by position (the first sequential candidate). */
  sequential: (context) => sequential(context, true),
  /** Re-ranked after every decision, nearest the boundary whichever side. */
  'sequential-logit0': (context) => sequential(context, false),
  /** The product's order until it followed each decision: ranked once per training (every 20 labels here). */
  'per-training': ({ scores }) => mostInformativeFirst(scores),
  /** Today's panel with the refit stopped at cross-validation's looser tolerance (1e-4). */
  'review-loose': (context) => reviewPanel(context, fewerLabels, 1, { tolerance: 1e-4 }),
  /** Today's panel with the refit's penalty on the distance from the trained head, not from zero. */
  'review-prior': (context) => reviewPanel(context, fewerLabels, 1, { towardTrained: true }),
  /** Today's panel without its lag: each pick from the ranking after the last decision. */
  'review-nolag': (context) => reviewPanel(context, fewerLabels, 0),
  /** One decision late, sides by the count of decisions rather than the labels (a queue made after k decisions serves pick k + 2). */
  'review-parity': (context) => reviewPanel(context, ({ decided }) => (decided % 2 === 1 ? 'above' : 'below'), 1),
  /** The review order with every fourth pick a random one (exploration against sampling bias). */
  explore: (context) => {
    const order = alternatingSides(context.scores, MODEL_BOUNDARY);
    const random = seededRandom(context.labelled.length / context.dim + 2);
    const out: number[] = [];
    const taken = new Set<number>();
    const rest = [...order];
    while (out.length < order.length) {
      const pick = out.length % 4 === 3 ? rest.splice(Math.floor(random() * rest.length), 1)[0] : rest.shift()!;
      if (taken.has(pick)) continue;
      taken.add(pick);
      out.push(pick);
    }
    return out;
  },
};
