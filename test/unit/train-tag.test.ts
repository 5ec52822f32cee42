// Training a tag (kernel/training/train-tag.ts) on constructed features whose right answer is
// known: clusters of positives found and each scored by its own model, the same model on one
// thread or two.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from '../../kernel/ml/random';
import { fitLogistic } from '../../kernel/ml/logistic-regression';
import { modelInput, TagModel, transformRows } from '../../kernel/training/tag-model';
import { trainTag } from '../../kernel/training/train-tag';

describe('clustered tag training', () => {
  /** Points around `centre` in 8-D, as feature vectors. */
  function blob(centre: number[], count: number, random: () => number) {
    return Array.from({ length: count }, () => ({ features: Float32Array.from(centre, (c) => c + (random() - 0.5) * 0.2) }));
  }
  const e = (i: number) => Array.from({ length: 8 }, (_, j) => (j === i ? 1 : 0.05));

  it('finds separable clusters of positives and scores each with its own cluster', async () => {
    const random = seededRandom(3);
    const positives = [...blob(e(0), 12, random), ...blob(e(1), 12, random), ...blob(e(2), 12, random)];
    const negatives = [...blob(e(4), 15, random), ...blob(e(5), 15, random)];
    const data = { tag: 't', backbone: 'test', featureLength: 8, positives, negatives, samplesDigest: '' };
    const model = await trainTag(data, { num_clusters: 3, apply_aesthetic_score: false, apply_stock_score: false });
    assert.deepEqual([...model.json.metrics.clusterSizes].sort(), [12, 12, 12]);
    assert.ok(model.json.metrics.rocAuc > 0.99);
    const clusters = [0, 1, 2].map((i) => model.score({ features: e(i) }).cluster);
    assert.equal(new Set(clusters).size, 3, 'each positive blob has its own cluster');
    assert.equal(model.score({ features: e(5) }).label, false);
    const again = await trainTag(data, { num_clusters: 3, apply_aesthetic_score: false, apply_stock_score: false }, undefined, { threads: 2 });
    assert.deepEqual(again.json.clusters, model.json.clusters, 'same data, same model, on one thread or two');
  });

  it('costs nothing to ask for clusters the data does not have: the shared head takes over', async () => {
    // One kind of positive, noisy: splitting it in three only leaves each head fewer examples.
    const random = seededRandom(11);
    const noisy = (centre: number[], count: number) =>
      Array.from({ length: count }, () => ({ features: Float32Array.from(centre, (c) => c + (random() - 0.5) * 1.6) }));
    const data = { tag: 't', backbone: 'test', featureLength: 8, positives: noisy(e(0), 30), negatives: noisy(e(1), 30), samplesDigest: '' };
    const held = { positives: noisy(e(0), 200), negatives: noisy(e(1), 200) };
    const auc = (model: Awaited<ReturnType<typeof trainTag>>) => {
      const p = held.positives.map((x) => model.score(x).score);
      const n = held.negatives.map((x) => model.score(x).score);
      let wins = 0;
      for (const a of p) for (const b of n) wins += a > b ? 1 : a === b ? 0.5 : 0;
      return wins / (p.length * n.length);
    };
    const one = await trainTag(data, { num_clusters: 1, apply_aesthetic_score: false, apply_stock_score: false });
    const three = await trainTag(data, { num_clusters: 3, apply_aesthetic_score: false, apply_stock_score: false });
    const independent = await trainTag(data, { num_clusters: 3, apply_aesthetic_score: false, apply_stock_score: false }, undefined, {
      clusterHeads: 'independent',
    });
    assert.ok(three.json.shared, 'a clustered tag keeps a shared head');
    assert.ok(auc(three) >= auc(one) - 0.01, `3 clusters ${auc(three).toFixed(3)} vs 1 cluster ${auc(one).toFixed(3)}`);
    assert.ok(auc(three) >= auc(independent), `tied ${auc(three).toFixed(3)} vs independent ${auc(independent).toFixed(3)}`);
  });

  it('ends at the optimum of the chosen penalty, whatever the fit started from', async () => {
    // The final fit starts from the folds' mean head; the loss is strictly convex, so it must
    // land where a fit from zero, run to a far tighter tolerance, lands.
    const random = seededRandom(17);
    const noisy = (centre: number[], count: number) =>
      Array.from({ length: count }, () => ({ features: Float32Array.from(centre, (c) => Math.max(0, c + (random() - 0.5) * 1.2)) }));
    const positives = noisy(e(0), 40);
    const negatives = noisy(e(1), 60);
    const data = { tag: 't', backbone: 'test', featureLength: 8, positives, negatives, samplesDigest: '' };
    const model = await trainTag(data, { num_clusters: 1, apply_aesthetic_score: false, apply_stock_score: false });
    const rows = [...positives, ...negatives].map((s) => modelInput(s, model.json));
    const labels = rows.map((_, i) => (i < positives.length ? 1 : 0));
    const weights = labels.map((l) => (l === 1 ? rows.length / (2 * positives.length) : rows.length / (2 * negatives.length)));
    const reference = fitLogistic(rows, labels, weights, { l2: model.json.metrics.l2, tolerance: 1e-9, maxIterations: 5000 });
    const [head] = model.json.clusters;
    head.weights.forEach((w, j) => assert.ok(Math.abs(w - reference.weights[j]) < 1e-3, `weight ${j}: ${w} vs ${reference.weights[j]}`));
    assert.ok(Math.abs(head.bias - reference.bias) < 1e-3, `bias ${head.bias} vs ${reference.bias}`);
  });

  it("scores a scan's whole matrix as it scores each image alone, clusters, shared head and base scores included", async () => {
    const random = seededRandom(5);
    const withBases = (points: { features: Float32Array }[]) => points.map((p) => ({ ...p, aesthetic: random() * 10, stock: random() }));
    const data = {
      tag: 't',
      backbone: 'test',
      featureLength: 8,
      samplesDigest: '',
      positives: withBases([...blob(e(0), 12, random), ...blob(e(1), 12, random)]),
      negatives: withBases(blob(e(4), 20, random)),
    };
    const trained = await trainTag(data, { num_clusters: 2, apply_aesthetic_score: true, apply_stock_score: true });
    // Cross-validation gives separable clusters no share of a shared head: add one by hand, so
    // the batch path has every part of a model to reproduce.
    const sharedWeights = Array.from({ length: 10 }, () => random() - 0.5);
    const model = TagModel.fromJSON({ ...trained.json, shared: { weights: sharedWeights, bias: 0.2, share: 0.4 } });
    assert.equal(model.json.clusters.length, 2);
    assert.equal(model.json.extras.length, 2);
    const images = withBases([...blob(e(0), 5, random), ...blob(e(3), 5, random), ...blob(e(4), 5, random)]);
    const matrix = new Float32Array(images.length * 8);
    images.forEach((image, i) => matrix.set(image.features, i * 8));
    const batch = model.scoreRows(transformRows(matrix, 8, model.json.featureTransform), images);
    images.forEach((image, i) => assert.ok(Math.abs(batch[i] - model.score(image).score) < 1e-6, `image ${i}: ${batch[i]} vs ${model.score(image).score}`));
    assert.throws(() => model.scoreRows(matrix.subarray(8), images), /expected 15 rows of 8 features/);
  });
});
