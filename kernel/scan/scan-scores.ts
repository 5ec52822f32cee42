// Every tag's score for every image of a scan, from the scan's feature matrix: no image is
// read, so a tag trained again re-scores the last scan in well under a second.
import { transformRows, type FeatureTransform, type TagModel } from '../training/tag-model';
import type { ScannedImage } from './scanner';

export interface TagColumn {
  threshold: number;
  /** One score per image, in the scan's order. */
  scores: Float32Array;
  /** The model these scores came from (its training time): a retrain makes them stale. */
  trainedAt: string;
}

export type ScanScores = Map<string, TagColumn>;

/**
 * Scores a scan for some tags. `transformed` keeps the scan's feature matrix transformed as each
 * model needs it, so that re-scoring after a retrain is only the models' dot products.
 */
export function scoreScan(
  images: readonly ScannedImage[],
  features: Float32Array,
  featureLength: number,
  models: readonly TagModel[],
  transformed: Map<FeatureTransform, Float32Array> = new Map(),
): ScanScores {
  const columns: ScanScores = new Map();
  // Only tags trained with apply_keywords read the images' keyword confidences.
  const keywords = models.some((m) => m.needs.keywords) ? images.map((image) => image.keywordVector) : undefined;
  for (const model of models) {
    const transform = model.json.featureTransform;
    let rows = transformed.get(transform);
    if (!rows) {
      rows = transformRows(features, featureLength, transform);
      transformed.set(transform, rows);
    }
    columns.set(model.tag, { threshold: model.json.threshold, scores: model.scoreRows(rows, images, keywords), trainedAt: model.json.trainedAt });
  }
  return columns;
}

export function applies(column: TagColumn, i: number): boolean {
  return column.scores[i] >= column.threshold;
}

/** The images whose call (applies or not) differs between two scorings of the same scan. */
export function changedCalls(before: TagColumn | undefined, after: TagColumn): number[] {
  const changed: number[] = [];
  for (let i = 0; i < after.scores.length; i++) {
    const was = before ? applies(before, i) : false;
    if (was !== applies(after, i)) changed.push(i);
  }
  return changed;
}
