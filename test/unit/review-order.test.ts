// The review queue's order, suspicious samples and similarity search, on constructed data
// whose right answers are known.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from '../../kernel/ml/random';
import { crossPairsAbove, nearestRows, prepareRows, row } from '../../kernel/ml/similarity';
import { appliesLeastSureFirst, doesNotApplyLeastSureFirst, mostInformativeFirst, suspiciousSamples } from '../../kernel/training/review-order';

describe('review order', () => {
  const scores = [0.99, 0.52, 0.05, 0.45, 0.7, 0.3];
  it('puts the images scored nearest the threshold first, leaving out what was reviewed', () => {
    assert.deepEqual(mostInformativeFirst(scores, 0.5), [1, 3, 4, 5, 2, 0]);
    assert.deepEqual(mostInformativeFirst(scores, 0.5, new Set([1, 4])), [3, 5, 2, 0]);
  });

  it('measures nearness in log-odds, so a threshold near 0 does not crowd out the other side', () => {
    // 0.05 vs 0.15 from a threshold of 0.1 are equally far in log-odds; 0.0 is far away.
    const order = mostInformativeFirst([0.0001, 0.15, 0.067, 0.9], 0.1);
    assert.deepEqual(order.slice(0, 2).sort(), [1, 2]);
    assert.equal(order.at(-1), 0);
  });

  it('splits into the calls the tag makes and the ones it rejects, least sure first', () => {
    assert.deepEqual(appliesLeastSureFirst(scores, 0.5), [1, 4, 0]);
    assert.deepEqual(doesNotApplyLeastSureFirst(scores, 0.5), [3, 5, 2]);
  });
});

describe('suspicious samples', () => {
  it('flags labels the held-out score contradicts, most confident contradiction first', () => {
    const outOfFold = [0.9, 0.04, 0.6, 0.1, 0.95, 0.45];
    const positive = [true, true, true, false, false, false];
    const flagged = suspiciousSamples(outOfFold, positive, 0.5);
    assert.deepEqual(flagged.map((s) => s.index), [1, 4]);
    assert.ok(Math.abs(flagged[0].disagreement - 0.96) < 1e-9);
  });
});

describe('similarity search', () => {
  const dim = 64;
  const random = seededRandom(3);
  const base = Float32Array.from({ length: 200 * dim }, () => random());
  it('finds a slightly changed copy of a row first, and itself when not excluded', () => {
    const prepared = prepareRows(base, dim);
    const query = Float32Array.from(base.subarray(17 * dim, 18 * dim), (v) => v * 1.01 + 0.001);
    const [first] = nearestRows(row(prepareRows(query, dim), dim, 0), prepared, dim, 5);
    assert.equal(first.index, 17);
    assert.ok(first.similarity > 0.999);
    const others = nearestRows(row(prepared, dim, 17), prepared, dim, 3, (i) => i === 17);
    assert.equal(others.length, 3);
    assert.ok(others.every((n) => n.index !== 17 && n.similarity < first.similarity));
    assert.ok(others[0].similarity >= others[1].similarity && others[1].similarity >= others[2].similarity);
  });

  it('pairs near-duplicates across two sets, and nothing else above a high threshold', () => {
    const a = prepareRows(base.subarray(0, 10 * dim), dim);
    const copy = Float32Array.from(base.subarray(3 * dim, 4 * dim));
    copy[0] += 0.01;
    const b = prepareRows(Float32Array.from([...base.subarray(100 * dim, 105 * dim), ...copy]), dim);
    const pairs = crossPairsAbove(a, b, dim, 0.99);
    assert.deepEqual(pairs.map((p) => [p.a, p.b]), [[3, 5]]);
  });
});
