// The base models every prediction carries: nsfw (the backbone's head), aesthetic and stock.
// Aesthetic and stock are transparent formulas over measured cues — documented in the README —
// because no pretrained aesthetic model can be fetched offline.
import type { ImageInfo } from '../images/image-decoder';
import type { ImageCues } from './image-cues';
import type { Keywords } from './keywords';

export type { Keywords };

export interface ScoreWithComponents {
  score: number;
  components: Record<string, number>;
}

export interface BaseScores {
  nsfw: Record<string, number>;
  aesthetic: ScoreWithComponents;
  stock: ScoreWithComponents;
  /** COCO objects found, with confidence and count: when asked for (`?keywords=true`) and the keywords model is installed. */
  keywords?: Keywords;
}

export const AESTHETIC_WEIGHTS: Record<keyof ImageCues, number> = {
  sharpness: 0.3,
  exposure: 0.2,
  contrast: 0.15,
  colourfulness: 0.1,
  noise: 0.25,
};

export function aestheticScore(cues: ImageCues): ScoreWithComponents {
  let score = 0;
  for (const [name, weight] of Object.entries(AESTHETIC_WEIGHTS)) score += weight * cues[name as keyof ImageCues];
  return { score, components: { ...cues } };
}

export const STOCK_WEIGHTS = { aesthetic: 0.4, resolution: 0.25, safety: 0.25, aspect: 0.1 };

/**
 * Commercial-stock suitability: a good photo (aesthetic), big enough to sell (4 MP and up
 * score 1, on a log scale from 0.3 MP), safe for work (1 − porn − hentai − sexy), and not
 * an extreme panorama or strip (aspect ratio within 3:1).
 */
export function stockScore(aesthetic: number, image: Pick<ImageInfo, 'width' | 'height'>, nsfw: Record<string, number>): ScoreWithComponents {
  const megapixels = (image.width * image.height) / 1e6;
  const resolution = clamp01(Math.log(megapixels / 0.3) / Math.log(4 / 0.3));
  const safety = clamp01(1 - (nsfw.porn ?? 0) - (nsfw.hentai ?? 0) - (nsfw.sexy ?? 0));
  const ratio = Math.max(image.width, image.height) / Math.min(image.width, image.height);
  const aspect = clamp01(1 - (ratio - 1.5) / 1.5);
  const components = { aesthetic, resolution, safety, aspect };
  const score = Object.entries(STOCK_WEIGHTS).reduce((sum, [k, w]) => sum + w * components[k as keyof typeof components], 0);
  return { score, components };
}

function clamp01(v: number): number {
  return Math.min(1, Math.max(0, v));
}
