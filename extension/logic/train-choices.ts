// How the Train Tag dialog's choices become engine options (the choices are kernel/rules.ts's).
import type { TrainOptions } from '../../kernel/client/tagsmith-client';

export function optionsFrom(clusters: number, scores: string[]): TrainOptions {
  return { num_clusters: clusters, apply_aesthetic_score: scores.includes('aesthetic'), apply_stock_score: scores.includes('stock') };
}
