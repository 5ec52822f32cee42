// npm run bench:engine
// Training time (2,000 samples, 3 clusters, cross-validation), tag-scorings per second from
// saved features (50 tags), the archive round trip of 1,000 samples, and peak RSS.
import fs from 'node:fs/promises';
import { Readable } from 'node:stream';
import { kmeans as mlKmeans } from 'ml-kmeans';
import { kmeans } from '../../kernel/ml/kmeans';
import { fitLogistic } from '../../kernel/ml/logistic-regression';
import { seededRandom } from '../../kernel/ml/random';
import { transformFeatures, type PreparedFeatures, type TagModel } from '../../kernel/training/tag-model';
import { L2_GRID, trainTag } from '../../kernel/training/train-tag';
import { DEFAULT_TRAIN_OPTIONS } from '../../kernel/rules';
import { openTestEngine } from '../helpers/engine';
import { blobs, stripes } from '../helpers/images';
import { median, table } from './stats';

const D = 1792;

/** ReLU-like feature vectors around a few prototypes per class, like pooled CNN features. */
function syntheticSamples(count: number, prototypes: number, seed: number, noise = 0.6): { features: Float32Array }[] {
  const random = seededRandom(seed);
  const centres = Array.from({ length: prototypes }, () => Float32Array.from({ length: D }, () => Math.max(0, random() * 2 - 1.2)));
  return Array.from({ length: count }, (_, i) => ({
    features: Float32Array.from(centres[i % prototypes], (c) => Math.max(0, c + (random() - 0.5) * noise)),
  }));
}

async function timeAsync<T>(work: () => Promise<T>): Promise<{ ms: number; result: T }> {
  const t = performance.now();
  const result = await work();
  return { ms: performance.now() - t, result };
}

function time<T>(work: () => T): { ms: number; result: T } {
  const t = performance.now();
  const result = work();
  return { ms: performance.now() - t, result };
}

async function main(): Promise<void> {
  console.log('bench:engine');
  const rows: string[][] = [];

  // 1. Training: 1,000 positives (3 prototypes) and 1,000 negatives (5 prototypes).
  const positives = syntheticSamples(1000, 3, 1);
  const negatives = syntheticSamples(1000, 5, 2);
  const data = { tag: 'bench', backbone: 'synthetic', featureLength: D, positives, negatives, samplesDigest: '' };
  // The product trains on 2 threads. Baselines, measured alternately in the same runs: 1 thread,
  // and the final fit walking down every penalty from zero (before it started from the folds' heads).
  const variants = { product: { threads: 2 }, oneThread: { threads: 1 }, penaltyWalk: { threads: 2, finalFit: 'penalty-walk' } } as const;
  type Variant = keyof typeof variants;
  const timeVariants = async (training: typeof data): Promise<Record<Variant, { ms: number; result: TagModel }[]>> => {
    const runs: Record<Variant, { ms: number; result: TagModel }[]> = { product: [], oneThread: [], penaltyWalk: [] };
    for (let run = 0; run < 3; run++) {
      for (const variant of Object.keys(variants) as Variant[])
        runs[variant].push(await timeAsync(() => trainTag(training, { ...DEFAULT_TRAIN_OPTIONS, num_clusters: 3 }, undefined, variants[variant])));
    }
    return runs;
  };
  const trainRuns = await timeVariants(data);
  const model = trainRuns.product[0].result;
  // Classes that overlap (AUC below 1): the penalty search runs further down the grid.
  const hard = { ...data, positives: syntheticSamples(1000, 3, 1, 6), negatives: syntheticSamples(1000, 5, 2, 6) };
  const hardRuns = await timeVariants(hard);
  const hardModel = hardRuns.product[0].result;
  const single = time(() => {
    const x = [...positives, ...negatives].map((s) => transformFeatures(s.features, 'sqrt-l2'));
    const y = x.map((_, i) => (i < positives.length ? 1 : 0));
    return fitLogistic(
      x,
      y,
      y.map(() => 1),
      { l2: 1e-3, tolerance: 1e-5 },
    );
  });
  for (const [label, runs, trained] of [
    [
      `train 2,000 samples, 3 clusters, ${model.json.metrics.folds}-fold CV, penalties ${L2_GRID[0]}…${L2_GRID.at(-1)} (stops 2 past the best), 2 threads`,
      trainRuns,
      model,
    ],
    ['  overlapping classes, 2 threads', hardRuns, hardModel],
  ] as const) {
    const seconds = (variant: Variant) => median(runs[variant].map((r) => r.ms)) / 1000;
    rows.push([label, `${seconds('product').toFixed(2)} s (median of 3)`, `AUC ${trained.json.metrics.rocAuc.toFixed(3)}, L2 ${trained.json.metrics.l2}`]);
    rows.push([
      '    same on 1 thread (baseline)',
      `${seconds('oneThread').toFixed(2)} s (median of 3)`,
      `${(seconds('oneThread') / seconds('product')).toFixed(2)}× the time`,
    ]);
    rows.push([
      '    final fit walking down the penalties (before)',
      `${seconds('penaltyWalk').toFixed(2)} s (median of 3)`,
      `${(seconds('penaltyWalk') / seconds('product')).toFixed(2)}× the time`,
    ]);
  }
  rows.push(['baseline: one logistic regression, no clusters, no CV', `${(single.ms / 1000).toFixed(2)} s`, `${single.result.iterations} L-BFGS iterations`]);

  // k-means of 1,000 positives: ours against ml-kmeans (which training used before).
  const points = positives.map((s) => Float64Array.from(transformFeatures(s.features, 'sqrt-l2')));
  const ours = [0, 1, 2].map(() => time(() => kmeans(points, { k: 3, seed: 42 })));
  const theirs = [0, 1, 2].map(() =>
    time(() =>
      mlKmeans(
        points.map((p) => Array.from(p)),
        3,
        { seed: 42, initialization: 'kmeans++', maxIterations: 100 },
      ),
    ),
  );
  const kmMs = (runs: { ms: number }[]) => median(runs.map((r) => r.ms));
  rows.push([
    'k-means++ of 1,000 × 1,792, k = 3 (kernel/ml/kmeans.ts)',
    `${kmMs(ours).toFixed(0)} ms (median of 3)`,
    `${ours[0].result.iterations} iterations`,
  ]);
  rows.push(['  baseline: ml-kmeans, same data and seed', `${kmMs(theirs).toFixed(0)} ms (median of 3)`, `ratio ${(kmMs(theirs) / kmMs(ours)).toFixed(1)}×`]);

  // 2. Scoring saved features against 50 tags.
  const tags: TagModel[] = [];
  for (let i = 0; i < 50; i++) {
    tags.push(
      await trainTag(
        { ...data, tag: `t${i}`, positives: positives.slice(i * 10, i * 10 + 10), negatives: negatives.slice(i * 10, i * 10 + 10) },
        DEFAULT_TRAIN_OPTIONS,
      ),
    );
  }
  const vectors = syntheticSamples(200, 7, 3).map((s) => s.features);
  const scoreAll = (share: boolean) => {
    let n = 0;
    for (const features of vectors) {
      const prepared: PreparedFeatures = new Map();
      for (const tag of tags) {
        tag.score({ features }, share ? prepared : new Map());
        n++;
      }
    }
    return n;
  };
  scoreAll(true); // warm-up
  const shared = [0, 1, 2].map(() => time(() => scoreAll(true)));
  const unshared = [0, 1, 2].map(() => time(() => scoreAll(false)));
  const rate = (runs: { ms: number; result: number }[]) => runs[0].result / (median(runs.map((r) => r.ms)) / 1000);
  rows.push([
    'tag-scorings/s from features, 50 tags (vector transformed once per image)',
    `${Math.round(rate(shared)).toLocaleString('en')}/s`,
    `${(1e6 / rate(shared)).toFixed(2)} µs each`,
  ]);
  rows.push([
    'baseline: transform the vector again for every tag',
    `${Math.round(rate(unshared)).toLocaleString('en')}/s`,
    `ratio ${(rate(shared) / rate(unshared)).toFixed(1)}×`,
  ]);

  // 3. Archive round trip of 1,000 samples through the real engine.
  const { engine, stateDir } = await openTestEngine();
  const t0 = performance.now();
  for (let start = 0; start < 1000; start += 25) {
    await Promise.all(
      Array.from({ length: 25 }, async (_, k) => {
        const i = start + k;
        const image = await (i % 2 ? stripes(96, 96, 8 + (i % 13), [200, (i * 7) % 255, 40], [20, 30, (i * 3) % 255], i) : blobs(96, 96, i))
          .jpeg({ quality: 85 })
          .toBuffer();
        await engine.addSample(i % 2 ? 'positive' : 'negative', `tag${i % 4}`, image);
      }),
    );
  }
  const addMs = performance.now() - t0;
  const t1 = performance.now();
  const chunks: Buffer[] = [];
  for await (const chunk of await engine.getState()) chunks.push(chunk as Buffer);
  const archive = Buffer.concat(chunks);
  const backupMs = performance.now() - t1;
  const t2 = performance.now();
  const restored = await engine.setState(Readable.from([archive]));
  const restoreMs = performance.now() - t2;
  rows.push([
    'add 1,000 generated images as samples (embedding included)',
    `${(addMs / 1000).toFixed(1)} s`,
    `${(1000 / (addMs / 1000)).toFixed(0)} samples/s`,
  ]);
  rows.push(['get_state of 1,000 samples', `${backupMs.toFixed(0)} ms`, `${(archive.length / 1e6).toFixed(1)} MB tar`]);
  rows.push(['set_state of that archive (validate, fsync, swap)', `${restoreMs.toFixed(0)} ms`, `${restored.samples} samples in ${restored.tags} tags`]);
  await engine.close();
  await fs.rm(stateDir, { recursive: true, force: true });

  rows.push(['peak RSS of this process', `${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`, '']);
  console.log(table(['measure', 'result', 'detail'], rows));
}

void main();
