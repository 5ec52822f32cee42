// Quality figures of a binary scorer, from scores and true labels (1 = positive).

/** ROC AUC as the Mann–Whitney statistic: P(score of a positive > score of a negative), ties count ½. */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let positives = 0;
  let rankSum = 0;
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && scores[order[j + 1]] === scores[order[i]]) j++;
    const averageRank = (i + j) / 2 + 1; // ranks are 1-based; tied scores share their mean rank
    for (let k = i; k <= j; k++) {
      if (labels[order[k]] === 1) {
        positives++;
        rankSum += averageRank;
      }
    }
    i = j + 1;
  }
  const negatives = order.length - positives;
  if (positives === 0 || negatives === 0) return Number.NaN;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

export interface Confusion {
  truePositives: number;
  falsePositives: number;
  trueNegatives: number;
  falseNegatives: number;
}

export function confusionAt(scores: ArrayLike<number>, labels: ArrayLike<number>, threshold: number): Confusion {
  const c = { truePositives: 0, falsePositives: 0, trueNegatives: 0, falseNegatives: 0 };
  for (let i = 0; i < scores.length; i++) {
    const predicted = scores[i] >= threshold;
    if (labels[i] === 1) predicted ? c.truePositives++ : c.falseNegatives++;
    else predicted ? c.falsePositives++ : c.trueNegatives++;
  }
  return c;
}

export function summarise(c: Confusion): { precision: number; recall: number; f1: number; accuracy: number } {
  const precision = c.truePositives + c.falsePositives === 0 ? 0 : c.truePositives / (c.truePositives + c.falsePositives);
  const recall = c.truePositives + c.falseNegatives === 0 ? 0 : c.truePositives / (c.truePositives + c.falseNegatives);
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  const total = c.truePositives + c.falsePositives + c.trueNegatives + c.falseNegatives;
  return { precision, recall, f1, accuracy: total === 0 ? 0 : (c.truePositives + c.trueNegatives) / total };
}

/**
 * The threshold with the best F1 among the observed scores; between two neighbouring scores
 * it sits halfway, so a new image scoring like a held-out positive is still called positive.
 */
export function bestF1Threshold(scores: ArrayLike<number>, labels: ArrayLike<number>): { threshold: number; f1: number } {
  const distinct = [...new Set(Array.from(scores))].sort((a, b) => a - b);
  let best = { threshold: 0.5, f1: -1 };
  for (let i = 0; i < distinct.length; i++) {
    const threshold = i === 0 ? distinct[0] : (distinct[i - 1] + distinct[i]) / 2;
    const { f1 } = summarise(confusionAt(scores, labels, threshold));
    if (f1 > best.f1) best = { threshold, f1 };
  }
  return best;
}

/** ROC curve points (false positive rate, true positive rate), from (0,0) to (1,1). */
export function rocCurve(scores: ArrayLike<number>, labels: ArrayLike<number>): { fpr: number; tpr: number }[] {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b] - scores[a]);
  const positives = Array.from(labels).filter((l) => l === 1).length;
  const negatives = scores.length - positives;
  const points = [{ fpr: 0, tpr: 0 }];
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < order.length; i++) {
    labels[order[i]] === 1 ? tp++ : fp++;
    if (i + 1 === order.length || scores[order[i + 1]] !== scores[order[i]]) {
      points.push({ fpr: negatives ? fp / negatives : 0, tpr: positives ? tp / positives : 0 });
    }
  }
  return points;
}

/** Counts of scores in `bins` equal-width bins over [0, 1]. */
export function histogram(scores: ArrayLike<number>, bins: number): number[] {
  const counts = new Array<number>(bins).fill(0);
  for (let i = 0; i < scores.length; i++) counts[Math.min(bins - 1, Math.max(0, Math.floor(scores[i] * bins)))]++;
  return counts;
}
