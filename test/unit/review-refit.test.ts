// The review queue's refit between trainings (kernel/training/review-refit.ts), on constructed
// features whose right answers are known: it learns from a decision at once, leaves the tag's
// model alone, and with nothing new decided agrees with what training fitted.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from '../../kernel/ml/random';
import { mostInformativeFirst, sideWithFewerLabels } from '../../kernel/training/review-order';
import { refitForReview } from '../../kernel/training/review-refit';
import { trainTag } from '../../kernel/training/train-tag';
import type { ScoringInput } from '../../kernel/training/tag-model';

const DIM = 8;
const e = (i: number) => Array.from({ length: DIM }, (_, j) => (j === i ? 1 : 0.05));
function blob(centre: number[], count: number, random: () => number, spread = 0.2): ScoringInput[] {
  return Array.from({ length: count }, () => ({ features: Float32Array.from(centre, (c) => c + (random() - 0.5) * spread), aesthetic: 4 + random() }));
}
const options = (num_clusters: number, apply_aesthetic_score = false) => ({ num_clusters, apply_aesthetic_score, apply_stock_score: false });

describe('the review refit', () => {
  it('learns from a decision before any training: a kind the tag never saw, said to be positive, scores as one', async () => {
    const random = seededRandom(5);
    const positives = blob(e(0), 10, random);
    const negatives = blob(e(1), 10, random);
    const model = await trainTag({ tag: 't', backbone: 'test', featureLength: DIM, positives, negatives, samplesDigest: '' }, options(1));
    const before = JSON.stringify(model.json);
    // A third kind of picture the tag has never seen: the reviewer says five of them are the tag.
    const newKind = blob(e(2), 6, random);
    const unseen = blob(e(2), 1, random)[0];
    const trainedScore = model.score(unseen).score;
    const refit = refitForReview(model, [...positives, ...newKind.slice(0, 5)], negatives);
    assert.ok(
      refit.score(unseen).score > 0.5,
      `an unseen picture of the new kind: ${refit.score(unseen).score.toFixed(3)} after, ${trainedScore.toFixed(3)} as trained`,
    );
    assert.ok(refit.score(unseen).score > trainedScore + 0.2);
    assert.ok(refit.score(blob(e(1), 1, random)[0]).score < 0.5, 'the negatives stay negative');
    assert.equal(JSON.stringify(model.json), before, "the tag's own model is untouched");
    assert.equal(refit.json.threshold, model.json.threshold);
  });

  it('with nothing new decided, ranks as the trained model does', async () => {
    const random = seededRandom(9);
    const positives = blob(e(0), 12, random, 1.4);
    const negatives = blob(e(1), 12, random, 1.4);
    const model = await trainTag({ tag: 't', backbone: 'test', featureLength: DIM, positives, negatives, samplesDigest: '' }, options(1));
    const pool = [...blob(e(0), 20, random, 1.6), ...blob(e(1), 20, random, 1.6)];
    const refit = refitForReview(model, positives, negatives);
    for (const image of pool) assert.ok(Math.abs(refit.score(image).score - model.score(image).score) < 0.02);
    assert.deepEqual(
      mostInformativeFirst(pool.map((p) => refit.score(p).score)).slice(0, 6),
      mostInformativeFirst(pool.map((p) => model.score(p).score)).slice(0, 6),
    );
  });

  it('refits a clustered tag with base scores as one head over the same inputs', async () => {
    const random = seededRandom(13);
    const positives = [...blob(e(0), 8, random), ...blob(e(2), 8, random)];
    const negatives = blob(e(1), 12, random);
    const model = await trainTag({ tag: 't', backbone: 'test', featureLength: DIM, positives, negatives, samplesDigest: '' }, options(2, true));
    const refit = refitForReview(model, [...positives, ...blob(e(3), 4, random)], negatives);
    assert.equal(refit.json.clusters.length, 1);
    assert.equal(refit.json.shared, undefined);
    assert.equal(refit.json.clusters[0].weights.length, DIM + 1, 'the features and the standardised aesthetic score');
    assert.ok(refit.score(blob(e(2), 1, random)[0]).score > 0.5 && refit.score(blob(e(1), 1, random)[0]).score < 0.5);
  });
});

describe('the side a re-ranked queue starts on', () => {
  it('is the side the tag has fewer labels of, above on a tie', () => {
    assert.equal(sideWithFewerLabels(10, 10), 'above');
    assert.equal(sideWithFewerLabels(9, 11), 'above');
    assert.equal(sideWithFewerLabels(12, 11), 'below');
    const scores = [0.99, 0.52, 0.05, 0.45, 0.7, 0.3];
    assert.deepEqual(mostInformativeFirst(scores, new Set(), 'below'), [3, 1, 5, 4, 2, 0]);
  });
});
