// Every tag's score for every image of a scan, from the scan's feature matrix: no image is
// read, so a tag trained again re-scores the last scan in well under a second.
import type { TagModel } from '../training/tag-model';
import type { ScannedImage } from './scanner';

export interface TagColumn {
  threshold: number;
  /** One score per image, in the scan's order. */
  scores: Float32Array;
  /** The model these scores came from (its training time): a retrain makes them stale. */
  trainedAt: string;
}

export type ScanScores = Map<string, TagColumn>;

export function scoreScan(images: readonly ScannedImage[], features: Float32Array, featureLength: number, models: readonly TagModel[]): ScanScores {
  const columns: ScanScores = new Map();
  for (const model of models) columns.set(model.tag, { threshold: model.json.threshold, scores: new Float32Array(images.length), trainedAt: model.json.trainedAt });
  images.forEach((image, i) => {
    const input = { features: features.subarray(i * featureLength, (i + 1) * featureLength), aesthetic: image.aesthetic, stock: image.stock, keywords: image.keywordVector };
    const prepared = new Map();
    for (const model of models) columns.get(model.tag)!.scores[i] = model.score(input, prepared).score;
  });
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
