// How the Train Tag dialog's choices become engine options (the choices are kernel/rules.ts's).
import type { TrainOptions } from '../../kernel/client/tagsmith-client';

/** `inputs`: the labels picked among the extra inputs ("aesthetic", "stock", "keywords"). */
export function optionsFrom(clusters: number, inputs: string[]): TrainOptions {
  return {
    num_clusters: clusters,
    apply_aesthetic_score: inputs.includes('aesthetic'),
    apply_stock_score: inputs.includes('stock'),
    apply_keywords: inputs.includes('keywords'),
  };
}
