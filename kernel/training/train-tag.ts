// Trains one tag from its samples: k-means of the positives, one class-balanced logistic
// regression per cluster (that cluster's positives against all negatives), tag score = max
// over clusters. With more than one cluster, a shared head (all positives against all
// negatives) is fitted first and each cluster's head is penalised for how far it moves from
// it rather than from zero: a cluster with few positives stays close to what every positive
// says, so more clusters stop costing accuracy (bench:accuracy's cluster rows). The L2 penalty
// is chosen by stratified cross-validation, whose out-of-fold scores also give the metrics and
// the threshold (best F1).
import { TagsmithError } from '../errors';
import { hasEnoughSamples, samplesNeeded } from '../rules';
import { kmeans } from '../ml/kmeans';
import type { LogisticModel } from '../ml/logistic-regression';
import { ParallelFits, SharedMatrix, type FitJob } from '../ml/parallel-fits';
import { bestF1Threshold, confusionAt, histogram, rocAuc, rocCurve, summarise } from '../ml/metrics';
import { stratifiedFolds } from '../ml/stratified-folds';
import { dot, sigmoid } from '../ml/vectors';
import {
  extraLength,
  modelInput,
  TAG_MODEL_FORMAT,
  TAG_MODEL_NAME,
  TagModel,
  type FeatureTransform,
  type ScoringInput,
  type TagMetrics,
  type TagModelJson,
} from './tag-model';
import type { TrainOptions } from './train-options';

export interface TrainingData {
  tag: string;
  backbone: string;
  featureLength: number;
  /** Default `sqrt-l2`, which measured better than plain L2 in bench:accuracy. */
  featureTransform?: FeatureTransform;
  positives: ScoringInput[];
  negatives: ScoringInput[];
  samplesDigest: string;
  /** Each sample's id, positives then negatives: the model then keeps each one's out-of-fold score. */
  sampleIds?: string[];
  /** With apply_keywords: the keywords model every sample's `keywords` come from. */
  keywordModel?: string;
}

export interface TrainingProgress {
  stage: 'preparing' | 'cross-validation' | 'fitting';
  /** 0..1 over the whole run. */
  progress: number;
}

/** Candidate L2 penalties, strongest first so each fit warm-starts the next. */
export const L2_GRID = [1, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5];
const MAX_FOLDS = 5;
/** From this many samples on, 3 folds leave plenty in each and save 40% of the work. */
const FEWER_FOLDS_FROM = 300;
const SEED = 42;
/** Cross-validation only ranks penalties, so its fits stop earlier than the final one. */
const CV_TOLERANCE = 1e-4;
/** Weaker penalties tried after the best one before the search stops (large tags only). */
const PATIENCE = 2;
const FINAL_TOLERANCE = 1e-5;
/** Shares of the shared head in a clustered tag's score that cross-validation tries (0: the cluster heads alone). */
const SHARED_SHARES = [0, 0.25, 0.5, 0.75, 1];

export function checkEnoughSamples(positives: number, negatives: number, clusters: number): void {
  if (!hasEnoughSamples({ positives, negatives }, clusters)) {
    throw new TagsmithError(
      'not_enough_samples',
      `Training needs ${samplesNeeded(clusters)}` +
        `${clusters > 1 ? ` (at least one positive per cluster for ${clusters} clusters)` : ''}; ` +
        `this tag has ${positives} positive and ${negatives} negative.`,
    );
  }
}

export interface TrainingResources {
  /** Threads for the logistic fits, this one included (1: no helper threads). */
  threads?: number;
  /**
   * `tied` (default): cluster heads pulled toward a shared head; `independent`: each cluster's
   * head on its own, as before (bench:accuracy compares the two).
   */
  clusterHeads?: 'tied' | 'independent';
  /**
   * `folds` (default): the final fit starts from the folds' mean head at the chosen penalty;
   * `penalty-walk`: from zero, down every penalty to the chosen one, as before (bench:engine
   * compares the two).
   */
  finalFit?: 'folds' | 'penalty-walk';
}

export async function trainTag(
  data: TrainingData,
  options: TrainOptions,
  onProgress: (p: TrainingProgress) => void = () => {},
  resources: TrainingResources = {},
): Promise<TagModel> {
  const k = options.num_clusters;
  checkEnoughSamples(data.positives.length, data.negatives.length, k);
  onProgress({ stage: 'preparing', progress: 0 });

  const extras = (['aesthetic', 'stock'] as const)
    .filter((name) => (name === 'aesthetic' ? options.apply_aesthetic_score : options.apply_stock_score))
    .map((name) => standardiser(name, [...data.positives, ...data.negatives]));
  const keywords = options.apply_keywords ? keywordStandardiser(data.keywordModel, [...data.positives, ...data.negatives]) : undefined;
  const featureTransform = data.featureTransform ?? 'sqrt-l2';
  const shape = { featureLength: data.featureLength, extras, featureTransform, ...(keywords ? { keywords } : {}) };
  const matrix = new SharedMatrix(
    [...data.positives, ...data.negatives].map((s) => modelInput(s, shape)),
    data.featureLength + extraLength(shape),
  );
  const x = matrix.rows;
  const y = x.map((_, i) => (i < data.positives.length ? 1 : 0));
  const fits = ParallelFits.create(matrix, Math.max(1, resources.threads ?? 1));
  const tied = (resources.clusterHeads ?? 'tied') === 'tied';
  try {
    // Cross-validation: every fold refits the whole pipeline (clustering included) on the rest.
    // Penalties are tried strongest first, all folds at each, warm-starting from the last one.
    // With many samples, once PATIENCE weaker penalties in a row have not beaten the best AUC,
    // the weaker (and slowest to fit) rest are skipped; few samples are quick to fit, and their
    // noisy AUC can rise again late (bench:accuracy's 10-shot bees fell from 0.84 to 0.80).
    const folds = Math.min(x.length >= FEWER_FOLDS_FROM ? 3 : MAX_FOLDS, data.positives.length, data.negatives.length);
    const fold = stratifiedFolds(y, folds, SEED);
    const cv = Array.from({ length: folds }, (_, f) => {
      const train = x.map((_, i) => i).filter((i) => fold[i] !== f);
      const clusters = Math.min(k, train.filter((i) => y[i] === 1).length);
      return {
        heldOut: x.map((_, i) => i).filter((i) => fold[i] === f),
        shared: sharedProblem(y, train),
        clusters: clusterProblems(x, y, train, clusters).problems,
        sharedModel: undefined as LogisticModel | undefined,
        models: [] as LogisticModel[],
      };
    });
    const outOfFold: Float64Array[] = [];
    const aucs: number[] = [];
    const shares: number[] = [];
    let chosen = 0;
    /** Each fold's whole-tag head (the shared one, or the one cluster's) at the chosen penalty: where the final fit starts. */
    let chosenHeads: LogisticModel[] = [];
    let lastGain = 0;
    const patience = x.length >= FEWER_FOLDS_FROM ? PATIENCE : L2_GRID.length;
    for (let l = 0; l < L2_GRID.length && l - lastGain <= patience; l++) {
      const scores = new Float64Array(x.length);
      const settings = { l2: L2_GRID[l], tolerance: CV_TOLERANCE, maxIterations: 200 };
      const tiedFolds = cv.filter((f) => tied && f.clusters.length > 1);
      const shared = await fits.fitAll(tiedFolds.map((f) => ({ ...f.shared, ...settings, init: f.sharedModel })));
      tiedFolds.forEach((f, i) => (f.sharedModel = shared[i]));
      const jobs = cv.flatMap((f) =>
        f.clusters.map((c, i): FitJob => tiedJob(c, settings, f.models[i], tied && f.clusters.length > 1 ? f.sharedModel : undefined)),
      );
      const fitted = await fits.fitAll(jobs);
      const sharedScores = new Float64Array(x.length);
      for (const f of cv) {
        f.models = fitted.splice(0, f.clusters.length);
        for (const i of f.heldOut) {
          scores[i] = scoreClusters(f.models, x[i]);
          sharedScores[i] = f.sharedModel && f.clusters.length > 1 ? scoreClusters([f.sharedModel], x[i]) : scores[i];
        }
      }
      // How much of the shared head the score takes: cross-validation weighs it against the
      // cluster heads, so clusters the data does not bear out cost nothing.
      let best = { share: 0, scores, auc: rocAuc(scores, y) };
      if (tiedFolds.length > 0) {
        for (const share of SHARED_SHARES.slice(1)) {
          const blended = scores.map((s, i) => share * sharedScores[i] + (1 - share) * s);
          const auc = rocAuc(blended, y);
          if (auc > best.auc + 1e-9) best = { share, scores: blended, auc };
        }
      }
      shares.push(best.share);
      outOfFold.push(best.scores);
      aucs.push(best.auc);
      // Ties go to the weaker penalty: small tags tie often (a few held-out samples per fold),
      // and there the weaker fit generalised better: 10-shot ants AUC 0.804 → 0.834 in
      // bench:accuracy's few-shot curve. (Preferring the strongest penalty within 0.01 of the
      // best measured worse.) Patience counts from the last strict gain.
      if (aucs[l] > aucs[chosen] + 1e-9) lastGain = l;
      if (aucs[l] >= aucs[chosen] - 1e-9) {
        chosen = l;
        chosenHeads = cv.flatMap((f) => (f.clusters.length === 1 ? f.models : f.sharedModel ? [f.sharedModel] : []));
      }
      onProgress({ stage: 'cross-validation', progress: 0.05 + (0.75 * (l + 1)) / L2_GRID.length });
    }
    const scores = outOfFold[chosen];

    onProgress({ stage: 'fitting', progress: 0.85 });
    const all = x.map((_, i) => i);
    const { problems, sizes } = clusterProblems(x, y, all, k);
    const sharedFinal = sharedProblem(y, all);
    let models: LogisticModel[] = [];
    let sharedModel: LogisticModel | undefined;
    // The whole-tag head fitted on all samples is close to the mean of the folds' heads at the
    // same penalty (each saw 2/3 or more of the samples), so the final fit starts there, at
    // the chosen penalty only. The optimum is unique (the loss is strictly convex), so this is
    // the model the walk down the penalties from zero reached (to FINAL_TOLERANCE), for 38% of the final fit's
    // gradient evaluations in bench:engine's training (the whole training: 77%). Untied clusters
    // have no such head across folds (each fold clusters anew): they still walk down.
    const wholeTag = tied || problems.length === 1;
    const fromFolds = (resources.finalFit ?? 'folds') === 'folds' && wholeTag && chosenHeads.length === folds;
    const start = fromFolds ? meanModel(chosenHeads) : undefined;
    for (const l2 of start ? [L2_GRID[chosen]] : L2_GRID.slice(0, chosen + 1)) {
      const settings = { l2, tolerance: FINAL_TOLERANCE, maxIterations: 200 };
      if (tied && problems.length > 1) [sharedModel] = await fits.fitAll([{ ...sharedFinal, ...settings, init: sharedModel ?? start }]);
      models = await fits.fitAll(problems.map((c, i) => tiedJob(c, settings, models[i] ?? (problems.length === 1 ? start : undefined), sharedModel)));
    }
    const { threshold } = bestF1Threshold(scores, y);
    const confusion = confusionAt(scores, y, threshold);
    const metrics: TagMetrics = {
      folds,
      positives: data.positives.length,
      negatives: data.negatives.length,
      threshold,
      ...summarise(confusion),
      rocAuc: aucs[chosen],
      confusion,
      histogram: {
        positives: histogram(
          scores.filter((_, i) => y[i] === 1),
          20,
        ),
        negatives: histogram(
          scores.filter((_, i) => y[i] === 0),
          20,
        ),
      },
      roc: rocCurve(scores, y),
      clusterSizes: sizes,
      l2: L2_GRID[chosen],
    };
    const share = shares[chosen];
    const json: TagModelJson = {
      name: TAG_MODEL_NAME,
      formatVersion: TAG_MODEL_FORMAT,
      tag: data.tag,
      backbone: data.backbone,
      featureLength: data.featureLength,
      featureTransform,
      options,
      extras,
      ...(keywords ? { keywords } : {}),
      clusters: models.map((m, c) => ({ weights: Array.from(m.weights), bias: m.bias, size: sizes[c] })),
      ...(sharedModel && share > 0 ? { shared: { weights: Array.from(sharedModel.weights), bias: sharedModel.bias, share } } : {}),
      threshold,
      metrics,
      trainedAt: new Date().toISOString(),
      samplesDigest: data.samplesDigest,
      ...(data.sampleIds?.length === x.length ? { outOfFold: data.sampleIds.map((id, i) => ({ id, score: scores[i] })) } : {}),
    };
    onProgress({ stage: 'fitting', progress: 1 });
    return TagModel.fromJSON(json);
  } finally {
    fits.close();
  }
}

/** How a base score is standardised before it joins a tag's input: its mean and std over the training samples. */
export function standardiser(
  name: 'aesthetic' | 'stock',
  samples: readonly Pick<ScoringInput, 'aesthetic' | 'stock'>[],
): { name: 'aesthetic' | 'stock'; mean: number; std: number } {
  const values = samples.map((s) => {
    const v = s[name];
    if (v === undefined) throw new Error(`sample without a ${name} score`);
    return v;
  });
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length;
  // A constant score carries no information; a unit std keeps it harmless instead of dividing by 0.
  return { name, mean, std: Math.sqrt(variance) > 1e-6 ? Math.sqrt(variance) : 1 };
}

/**
 * Each keyword confidence standardised over the samples, the block scaled by 1/√classes: its
 * expected squared length is then 1, as the feature vector's is, so 80 keywords do not drown
 * the 1792 features (nor the other way round) under one L2 penalty.
 */
function keywordStandardiser(model: string | undefined, samples: ScoringInput[]): NonNullable<TagModelJson['keywords']> {
  if (!model) throw new Error('apply_keywords without a keywords model');
  const classes = samples[0]?.keywords?.length ?? 0;
  if (classes === 0 || samples.some((s) => s.keywords?.length !== classes)) throw new Error('a sample without keyword confidences');
  const mean = Array.from({ length: classes }, (_, c) => samples.reduce((sum, s) => sum + s.keywords![c], 0) / samples.length);
  const std = mean.map((m, c) => {
    const sd = Math.sqrt(samples.reduce((sum, s) => sum + (s.keywords![c] - m) ** 2, 0) / samples.length);
    return sd > 1e-6 ? sd : 1;
  });
  return { model, mean, std, scale: 1 / Math.sqrt(classes) };
}

/** Cluster labels of the positives (seeded k-means++), renumbered so no cluster is empty. */
function clusterPositives(positives: Float64Array[], k: number): number[] {
  if (k <= 1) return positives.map(() => 0);
  const { assignment } = kmeans(positives, { k, seed: SEED, maxIterations: 100 });
  const used = [...new Set(assignment)].sort((a, b) => a - b);
  return Array.from(assignment, (c) => used.indexOf(c));
}

interface ClusterProblem {
  /** Indices into the sample matrix. */
  rows: number[];
  labels: number[];
  weights: number[];
}

/** One logistic-regression problem per cluster of the positives among `subset`: its members against all negatives. */
function clusterProblems(x: Float64Array[], y: number[], subset: number[], k: number): { problems: ClusterProblem[]; sizes: number[] } {
  const positives = subset.filter((i) => y[i] === 1);
  const negatives = subset.filter((i) => y[i] === 0);
  const assignment = clusterPositives(
    positives.map((i) => x[i]),
    k,
  );
  const clusters = Math.max(...assignment) + 1;
  const sizes = Array.from({ length: clusters }, (_, c) => assignment.filter((a) => a === c).length);
  const problems = sizes.map((_, c) => {
    const members = positives.filter((_, i) => assignment[i] === c);
    const rows = [...members, ...negatives];
    const labels = rows.map((_, i) => (i < members.length ? 1 : 0));
    // Class-balanced: each class carries half the total weight, however many samples it has.
    const weights = labels.map((l) => (l === 1 ? rows.length / (2 * members.length) : rows.length / (2 * negatives.length)));
    return { rows, labels, weights };
  });
  return { problems, sizes };
}

/** All positives against all negatives of `subset`, class-balanced: the head clusters are tied to. */
function sharedProblem(y: number[], subset: number[]): ClusterProblem {
  const rows = [...subset.filter((i) => y[i] === 1), ...subset.filter((i) => y[i] === 0)];
  const labels = rows.map((i) => y[i]);
  const positives = labels.filter((l) => l === 1).length;
  const weights = labels.map((l) => (l === 1 ? rows.length / (2 * positives) : rows.length / (2 * (rows.length - positives))));
  return { rows, labels, weights };
}

/** A cluster's fit: pulled toward the shared head when there is one, warm-started from its last fit or from the shared head. */
function tiedJob(
  problem: ClusterProblem,
  settings: { l2: number; tolerance: number; maxIterations: number },
  last: LogisticModel | undefined,
  shared: LogisticModel | undefined,
): FitJob {
  return { ...problem, ...settings, init: last ?? shared, ...(shared ? { prior: shared.weights } : {}) };
}

/** The average of models over the same inputs: weights and bias each averaged. */
function meanModel(models: LogisticModel[]): LogisticModel {
  const weights = new Float64Array(models[0].weights.length);
  for (const m of models) for (let j = 0; j < weights.length; j++) weights[j] += m.weights[j] / models.length;
  return { weights, bias: models.reduce((sum, m) => sum + m.bias, 0) / models.length };
}

function scoreClusters(models: LogisticModel[], x: Float64Array): number {
  let best = 0;
  for (const m of models) best = Math.max(best, sigmoid(dot(m.weights, x) + m.bias));
  return best;
}
