// Training results in words (kernel/training/describe-metrics.ts), as the training message and
// the dashboard show them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeMetrics, describeOutcome } from '../../kernel/training/describe-metrics';

describe('metrics in words', () => {
  it('says the cross-validated figures and what they mean for held-out samples', () => {
    const sentence = describeMetrics('stripes', {
      f1: 0.947,
      rocAuc: 0.991,
      confusion: { truePositives: 9, falseNegatives: 1, falsePositives: 1, trueNegatives: 19 },
    });
    assert.equal(sentence, 'Trained "stripes": F1 0.95, ROC AUC 0.99 (cross-validated). 9 of 10 held-out positives found; 1 false alarm in 20 negatives.');
    assert.equal(
      describeOutcome({ f1: 1, rocAuc: 1, confusion: { truePositives: 5, falseNegatives: 0, falsePositives: 0, trueNegatives: 7 } }),
      '5 of 5 held-out positives found; no false alarms in 7 negatives.',
    );
    assert.equal(
      describeOutcome({ f1: 0.8, rocAuc: 0.9, confusion: { truePositives: 40, falseNegatives: 10, falsePositives: 3, trueNegatives: 57 } }),
      '40 of 50 held-out positives found; about 1 false alarm per 20 negatives.',
    );
  });
});
