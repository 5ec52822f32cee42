// The review queue's order and suspicious samples (kernel/training/review-order.ts), on
// constructed data whose right answers are known. (Similarity search: similarity.test.ts.)
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { appliesLeastSureFirst, doesNotApplyLeastSureFirst, mostInformativeFirst, nearestFirst, suspiciousSamples } from '../../kernel/training/review-order';

describe('review order', () => {
  const scores = [0.99, 0.52, 0.05, 0.45, 0.7, 0.3];
  const side = (i: number, list: number[]) => (list[i] >= 0.5 ? 'above' : 'below');

  it("takes the images nearest the model's boundary from each side in turn, leaving out what was reviewed", () => {
    assert.deepEqual(mostInformativeFirst(scores), [1, 3, 4, 5, 0, 2]);
    assert.deepEqual(mostInformativeFirst(scores, new Set([1, 4])), [0, 3, 5, 2]);
  });

  it('never fills a round with one kind while the other side has images left', () => {
    // Nine images just below the boundary, three far above it: pure nearness would give a
    // first round of six all below; taking sides in turn puts the three above among the first six.
    const lopsided = [0.49, 0.48, 0.47, 0.46, 0.45, 0.44, 0.43, 0.42, 0.41, 0.95, 0.97, 0.99];
    const order = mostInformativeFirst(lopsided);
    assert.deepEqual(
      order.slice(0, 6).map((i) => side(i, lopsided)),
      ['above', 'below', 'above', 'below', 'above', 'below'],
    );
    assert.deepEqual(order, [9, 0, 10, 1, 11, 2, 3, 4, 5, 6, 7, 8], 'each side nearest first; once one runs out, the rest of the other');
  });

  it("centres on the model's boundary, not on the tag's threshold", () => {
    // A tag whose threshold is 0.1 still has the model least sure at 0.5: 0.55 and 0.45 come
    // first, and 0.12, right at the threshold but confidently negative to the model, later.
    const order = mostInformativeFirst([0.12, 0.55, 0.9, 0.45, 0.02]);
    assert.deepEqual(order.slice(0, 2), [1, 3]);
    assert.ok(order.indexOf(0) > 1);
  });

  it('measures nearness in log-odds, so a centre near 0 does not crowd out the other side', () => {
    // 0.05 vs 0.15 from a threshold of 0.1 are equally far in log-odds; 0.0 is far away.
    const order = nearestFirst([0.0001, 0.15, 0.067, 0.9], 0.1);
    assert.deepEqual(order.slice(0, 2).sort(), [1, 2]);
    assert.equal(order.at(-1), 0);
  });

  it('splits into the calls the tag makes and the ones it rejects, least sure of the call (nearest the threshold) first', () => {
    assert.deepEqual(appliesLeastSureFirst(scores, 0.5), [1, 4, 0]);
    assert.deepEqual(doesNotApplyLeastSureFirst(scores, 0.5), [3, 5, 2]);
    assert.deepEqual(appliesLeastSureFirst(scores, 0.4, new Set([1])), [3, 4, 0]);
    assert.deepEqual(doesNotApplyLeastSureFirst(scores, 0.4), [5, 2]);
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
