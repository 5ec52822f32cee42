// Gallery thumbnails: upright, fitted inside a square, WebP.
import sharp from 'sharp';
import { MAX_INPUT_PIXELS } from '../images/image-decoder';

export function makeThumbnail(bytes: Uint8Array, side: number): Promise<Buffer> {
  return sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS, pages: 1 })
    .autoOrient()
    .resize(side, side, { fit: 'inside', withoutEnlargement: true })
    .webp({ quality: 80 })
    .toBuffer();
}
