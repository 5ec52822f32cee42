// The review queue's order and suspicious samples (kernel/training/review-order.ts), on
// constructed data whose right answers are known. (Similarity search: similarity.test.ts.)
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
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
    assert.deepEqual(
      flagged.map((s) => s.index),
      [1, 4],
    );
    assert.ok(Math.abs(flagged[0].disagreement - 0.96) < 1e-9);
  });
});
