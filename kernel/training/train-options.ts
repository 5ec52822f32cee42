// The options of a training run, as the SDK names them, validated at the boundary.
import { TagsmithError } from '../errors';
import { DEFAULT_TRAIN_OPTIONS, isClusterCount, MAX_CLUSTERS, MIN_CLUSTERS, type TrainOptions } from '../rules';

export type { TrainOptions };

export function validateTrainOptions(partial: Partial<TrainOptions>): TrainOptions {
  const options = { ...DEFAULT_TRAIN_OPTIONS, ...partial };
  const k = options.num_clusters;
  if (!isClusterCount(k)) {
    throw new TagsmithError('invalid_option', `num_clusters must be a whole number from ${MIN_CLUSTERS} to ${MAX_CLUSTERS}; got ${String(k)}.`);
  }
  for (const key of ['apply_aesthetic_score', 'apply_stock_score', 'apply_keywords'] as const) {
    if (typeof options[key] !== 'boolean') throw new TagsmithError('invalid_option', `${key} must be true or false.`);
  }
  return options;
}

/** Parses query-string values: `true/false/1/0` (any case) for booleans, digits for counts. */
export function parseTrainQuery(query: URLSearchParams): TrainOptions {
  const partial: Partial<TrainOptions> = {};
  const clusters = query.get('num_clusters');
  if (clusters !== null) {
    if (!/^\d+$/.test(clusters.trim()))
      throw new TagsmithError('invalid_option', `num_clusters must be a whole number from ${MIN_CLUSTERS} to ${MAX_CLUSTERS}; got "${clusters}".`);
    partial.num_clusters = Number(clusters);
  }
  for (const key of ['apply_aesthetic_score', 'apply_stock_score', 'apply_keywords'] as const) {
    const value = query.get(key);
    if (value !== null) partial[key] = parseBoolean(key, value);
  }
  return validateTrainOptions(partial);
}

export function parseBoolean(name: string, value: string): boolean {
  const v = value.trim().toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new TagsmithError('invalid_option', `${name} must be true, false, 1 or 0; got "${value}".`);
}
