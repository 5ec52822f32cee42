// The numeric core (kernel/ml) against answers known in advance. (Training a tag from it:
// train-tag.test.ts.)
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { kthSmallestNonNegative } from '../../kernel/ml/kth-smallest';
import { fitLogistic, predictLogistic } from '../../kernel/ml/logistic-regression';
import { bestF1Threshold, confusionAt, histogram, rocAuc, summarise } from '../../kernel/ml/metrics';
import { seededRandom } from '../../kernel/ml/random';
import { stratifiedFolds } from '../../kernel/ml/stratified-folds';

describe('ROC AUC', () => {
  it('matches a hand-computed example with a tie', () => {
    // Positives 0.9, 0.6, 0.4; negatives 0.6, 0.3. Pairs won: 0.9 beats both (2), 0.6 beats
    // 0.3 and ties 0.6 (1.5), 0.4 beats 0.3 (1): 4.5 of 6.
    assert.equal(rocAuc([0.9, 0.6, 0.4, 0.6, 0.3], [1, 1, 1, 0, 0]), 0.75);
    assert.equal(rocAuc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]), 1);
    assert.ok(Number.isNaN(rocAuc([0.5, 0.6], [1, 1])), 'undefined with one class');
  });
});

describe('k-th smallest (the median of the noise estimate)', () => {
  it('gives what a sort puts at index k, for any non-negative array and k, ties, sorted runs and subnormals included', () => {
    const arrays = fc.oneof(
      fc.array(fc.float({ min: 0, noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 300 }),
      fc.array(fc.float({ min: 0, max: Math.fround(1e-38), noNaN: true }), { minLength: 1, maxLength: 300 }), // same upper bits, subnormals
      fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 300 }), // many ties
      fc.integer({ min: 1, max: 300 }).map((n) => Array.from({ length: n }, (_, i) => n - i)), // sorted backwards
    );
    fc.assert(
      fc.property(arrays, fc.nat(), (values, pick) => {
        const k = pick % values.length;
        const input = Float32Array.from(values, Math.abs); // fast-check's min: 0 still gives −0
        const sorted = Float32Array.from(input).sort();
        const found = kthSmallestNonNegative(input, k);
        assert.ok(found === sorted[k], `k = ${k}: ${found}, a sort gives ${sorted[k]}`);
        assert.deepEqual(input, Float32Array.from(values, Math.abs), 'the values are left as they were');
      }),
      { numRuns: 500, seed: 7 },
    );
  });

  it('refuses an index outside the array', () => {
    assert.throws(() => kthSmallestNonNegative(new Float32Array(3), 3), RangeError);
  });
});

describe('threshold and confusion', () => {
  it('picks the best-F1 threshold and counts the confusion matrix at it', () => {
    const scores = [0.95, 0.8, 0.7, 0.4, 0.35, 0.1];
    const labels = [1, 1, 0, 1, 0, 0];
    const { threshold, f1 } = bestF1Threshold(scores, labels);
    const c = confusionAt(scores, labels, threshold);
    assert.equal(f1, summarise(c).f1);
    // Calling the top four positive catches all 3 positives with 1 false alarm: F1 = 6/7,
    // better than the top two (F1 = 0.8). The threshold sits halfway to the next score.
    assert.ok(Math.abs(f1 - 6 / 7) < 1e-12, `best F1 ${f1}`);
    assert.ok(Math.abs(threshold - 0.375) < 1e-12, `threshold ${threshold}`);
    assert.equal(c.truePositives + c.falseNegatives, 3);
    assert.deepEqual(histogram([0, 0.05, 0.5, 0.99, 1], 4), [2, 0, 1, 2]);
  });
});

describe('logistic regression', () => {
  it('with no features, fits the bias to the log-odds of the weighted labels', () => {
    const x = Array.from({ length: 10 }, () => new Float64Array(0));
    const y = [1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
    const fit = fitLogistic(
      x,
      y,
      y.map(() => 1),
      { l2: 0 },
    );
    assert.ok(Math.abs(fit.bias - Math.log(3 / 7)) < 1e-6, `bias ${fit.bias}`);
    const weighted = fitLogistic(
      x,
      y,
      y.map((l) => (l === 1 ? 7 / 3 : 1)),
      { l2: 0 },
    );
    assert.ok(Math.abs(weighted.bias) < 1e-6, 'balanced weights give even odds');
  });

  it('matches a Newton-method reference on a 2-D problem', () => {
    const random = seededRandom(5);
    const x: Float64Array[] = [];
    const y: number[] = [];
    for (let i = 0; i < 200; i++) {
      const label = i % 2;
      x.push(Float64Array.from([random() * 2 - 1 + label, random() * 2 - 1 - label * 0.5]));
      y.push(label);
    }
    const l2 = 0.01;
    const fit = fitLogistic(
      x,
      y,
      y.map(() => 1),
      { l2, tolerance: 1e-10 },
    );
    const reference = newton(x, y, l2);
    assert.ok(
      Math.abs(fit.weights[0] - reference[0]) < 1e-5 && Math.abs(fit.weights[1] - reference[1]) < 1e-5 && Math.abs(fit.bias - reference[2]) < 1e-5,
      `L-BFGS ${[...fit.weights, fit.bias]} vs Newton ${reference}`,
    );
    assert.ok(predictLogistic(fit, Float64Array.from([1.5, -1])) > 0.5);
  });
});

describe('stratified folds', () => {
  it('spreads each class evenly over the folds, the same way for the same seed', () => {
    const labels = [...Array(10).fill(1), ...Array(5).fill(0)];
    const folds = stratifiedFolds(labels, 5, 1);
    for (let f = 0; f < 5; f++) {
      assert.equal(folds.filter((v, i) => v === f && labels[i] === 1).length, 2);
      assert.equal(folds.filter((v, i) => v === f && labels[i] === 0).length, 1);
    }
    assert.deepEqual(stratifiedFolds(labels, 5, 1), folds);
  });
});

/** Damped Newton's method for the same objective: the textbook reference. */
function newton(x: Float64Array[], y: number[], l2: number): number[] {
  let theta = [0, 0, 0];
  const n = x.length;
  for (let it = 0; it < 50; it++) {
    const g = [0, 0, 0];
    const h = [
      [0, 0, 0],
      [0, 0, 0],
      [0, 0, 0],
    ];
    for (let i = 0; i < n; i++) {
      const v = [x[i][0], x[i][1], 1];
      const p = 1 / (1 + Math.exp(-(theta[0] * v[0] + theta[1] * v[1] + theta[2])));
      for (let a = 0; a < 3; a++) {
        g[a] += ((p - y[i]) * v[a]) / n;
        for (let b = 0; b < 3; b++) h[a][b] += (p * (1 - p) * v[a] * v[b]) / n;
      }
    }
    for (let a = 0; a < 2; a++) {
      g[a] += l2 * theta[a];
      h[a][a] += l2;
    }
    theta = theta.map((t, a) => t - solve3(h, g)[a]);
  }
  return theta;
}

function solve3(m: number[][], b: number[]): number[] {
  const det = (a: number[][]) =>
    a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
  const d = det(m);
  return [0, 1, 2].map((c) => det(m.map((row, r) => row.map((v, k) => (k === c ? b[r] : v)))) / d);
}

describe('k-means', () => {
  it('separates well-apart groups, is the same for the same seed, and refuses a bad k', async () => {
    const { kmeans } = await import('../../kernel/ml/kmeans');
    const random = seededRandom(5);
    const around = (c: number) => Float64Array.from({ length: 6 }, (_, j) => (j === c ? 4 : 0) + random() * 0.5);
    const points = [
      ...Array.from({ length: 20 }, () => around(0)),
      ...Array.from({ length: 20 }, () => around(3)),
      ...Array.from({ length: 20 }, () => around(5)),
    ];
    const result = kmeans(points, { k: 3, seed: 1 });
    assert.equal(result.converged, true);
    for (const group of [0, 20, 40]) assert.equal(new Set(result.assignment.slice(group, group + 20)).size, 1, 'each group is one cluster');
    assert.equal(new Set(result.assignment).size, 3);
    assert.deepEqual(kmeans(points, { k: 3, seed: 1 }).assignment, result.assignment);
    assert.throws(() => kmeans(points, { k: 0 }), RangeError);
    assert.throws(() => kmeans(points.slice(0, 2), { k: 3 }), RangeError);
  });
});
