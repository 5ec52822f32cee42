// One scanned image's record: every tag's score, threshold and call, and its base scores. A
// local scan (`tagsmith predict`) and a scan worker build it with this one function, so a batch
// scored on another machine is the record a local scan writes.
import type { ImageCalls } from '../export/scan-table';
import type { PreparedFeatures, TagModel } from '../training/tag-model';
import type { ScannedImage } from './scanner';

export function imageCalls(image: ScannedImage, features: Float32Array, models: readonly TagModel[], shownPath = image.path): ImageCalls {
  // A tag trained with apply_keywords reads the image's keyword confidences; the scan found them (see keywordSourceFor).
  const input = { features, aesthetic: image.aesthetic, stock: image.stock, ...(image.keywordVector ? { keywords: image.keywordVector } : {}) };
  const prepared: PreparedFeatures = new Map();
  return {
    path: shownPath,
    sha256: image.sha256,
    tags: Object.fromEntries(
      models.map((m) => {
        const s = m.score(input, prepared);
        return [m.tag, { score: s.score, threshold: s.threshold, applies: s.label }];
      }),
    ),
    aesthetic: image.aesthetic,
    stock: image.stock,
    nsfw: image.nsfw,
  };
}
