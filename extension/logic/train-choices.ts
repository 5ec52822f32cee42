// The Train Tag dialog's choices and how they become engine options.
import type { TrainOptions } from '../../kernel/client/tagsmith-client';

export const CLUSTER_CHOICES = [1, 2, 3, 4, 5, 8];

export function describeMetrics(tag: string, metrics: { f1: number; rocAuc: number; confusion: { truePositives: number; falseNegatives: number; falsePositives: number; trueNegatives: number } } | undefined): string {
  if (!metrics) return `Trained "${tag}".`;
  const c = metrics.confusion;
  const positives = c.truePositives + c.falseNegatives;
  const negatives = c.falsePositives + c.trueNegatives;
  return `Trained "${tag}": F1 ${metrics.f1.toFixed(2)}, ROC AUC ${metrics.rocAuc.toFixed(2)} (cross-validated). ` +
    `${c.truePositives} of ${positives} held-out positives found; ${c.falsePositives} false alarm${c.falsePositives === 1 ? '' : 's'} in ${negatives} negatives.`;
}

export function optionsFrom(clusters: number, scores: string[]): TrainOptions {
  return { num_clusters: clusters, apply_aesthetic_score: scores.includes('aesthetic'), apply_stock_score: scores.includes('stock') };
}
