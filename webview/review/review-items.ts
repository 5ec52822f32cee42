// The host's answers as the review panel's cards: a queue page's images, and the images and
// samples "more like this" found. Pure, so what a card says is unit-tested.
import type { ReviewCard, ReviewPage, SimilarResult } from '../protocol';
import type { ReviewItem } from './review-grid';

const fileName = (path: string) => path.split(/[\\/]/).pop() ?? path;

function scannedItem(scanId: string, image: ReviewCard, tag: string): ReviewItem {
  const call = image.tags[tag];
  return {
    key: `scan:${scanId}:${image.index}`,
    label: fileName(image.path),
    image: { src: image.src, path: image.path },
    score: call && { value: call.score, threshold: call.threshold, applies: call.applies },
    changed: image.changed,
    reviewScore: image.reviewScore,
    note: image.sample ? `already a ${image.sample} of ${tag}` : undefined,
    target: { path: image.path },
    moreLike: { scanId, index: image.index, label: fileName(image.path) },
  };
}

export function queueItems(page: ReviewPage): ReviewItem[] {
  return page.images.map((image) => scannedItem(page.scanId, image, page.tag));
}

/** The most alike first: scanned images (scored by `tag` when it is trained), then samples of any tag. */
export function similarItems(result: SimilarResult, tag: string): ReviewItem[] {
  const images = result.images.map((image) => ({ ...scannedItem(result.scanId ?? '', image, tag), similarity: image.similarity }));
  const samples = result.samples.map((sample): ReviewItem => {
    const label = sample.fileName ?? sample.id.slice(0, 12);
    return {
      key: `sample:${sample.id}`,
      label,
      image: { sampleId: sample.id },
      similarity: sample.similarity,
      note: `sample: ${sample.tags.map((t) => `${t.type} of ${t.tag}`).join(', ')}`,
      target: { sampleId: sample.id },
      moreLike: { sampleId: sample.id, label },
    };
  });
  return [...images, ...samples];
}
