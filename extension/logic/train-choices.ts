// The Train Tag dialog's choices and how they become engine options.
import type { TrainOptions } from '../../kernel/client/tagsmith-client';

export const CLUSTER_CHOICES = [1, 2, 3, 4, 5, 8];

export function optionsFrom(clusters: number, scores: string[]): TrainOptions {
  return { num_clusters: clusters, apply_aesthetic_score: scores.includes('aesthetic'), apply_stock_score: scores.includes('stock') };
}
