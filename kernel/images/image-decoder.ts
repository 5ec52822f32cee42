// Turns untrusted image bytes into the RGB pixels a model wants. sharp decodes; this file
// decides what is accepted: raster formats only (an SVG could reference other files), a pixel
// limit read from the header before any decoding, and the first frame of an animation.
import sharp, { type Metadata } from 'sharp';
import { TagsmithError } from '../errors';

/**
 * How strict decoding is: any truncation fails; for PNG also a warning, because libpng
 * reports a corrupt chunk checksum only as a warning. (JPEG warnings stay tolerated: real
 * cameras write harmless ones, such as extraneous bytes before a marker.)
 */
function failOn(format: string): 'warning' | 'truncated' {
  return format === 'png' ? 'warning' : 'truncated';
}

/** 100 megapixels: a 20000×20000 image is refused before a single pixel is decoded. */
export const MAX_INPUT_PIXELS = 100_000_000;
const ACCEPTED_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif']);

export type ResizePolicy = 'squash' | 'center-crop';

export interface ImageInfo {
  format: string;
  /** Size after EXIF rotation. */
  width: number;
  height: number;
}

export interface DecodedImage extends ImageInfo {
  /** size × size × 3 bytes, RGB, row-major. */
  pixels: Buffer;
  size: number;
}

/** Reads the header only: format and upright size, or a typed error. */
export async function inspectImage(bytes: Uint8Array): Promise<ImageInfo> {
  if (bytes.length === 0) throw new TagsmithError('not_an_image', 'The upload is empty.');
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (error) {
    throw new TagsmithError('not_an_image', 'The data is not an image sharp can read (JPEG, PNG, WebP, GIF, TIFF or AVIF).', { cause: error });
  }
  const format = meta.format ?? 'unknown';
  if (!ACCEPTED_FORMATS.has(format)) {
    throw new TagsmithError('not_an_image', `${format.toUpperCase()} files are not accepted; use JPEG, PNG, WebP, GIF, TIFF or AVIF.`);
  }
  const width = meta.autoOrient?.width ?? meta.width ?? 0;
  const height = meta.autoOrient?.height ?? meta.height ?? 0;
  if (width < 1 || height < 1) throw new TagsmithError('not_an_image', 'The image has no pixels.');
  if (width * height > MAX_INPUT_PIXELS) {
    throw new TagsmithError('image_too_large', `The image is ${width}×${height} pixels; the limit is ${MAX_INPUT_PIXELS / 1e6} megapixels.`);
  }
  return { format, width, height };
}

/** Decodes, rotates upright, flattens alpha onto white, converts to sRGB and resizes. `header`: what `inspectImage` said of these bytes, if the caller asked already. */
export async function decodeForModel(bytes: Uint8Array, size: number, policy: ResizePolicy, header?: ImageInfo): Promise<DecodedImage> {
  const info = header ?? (await inspectImage(bytes));
  try {
    const pixels = await sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS, pages: 1, failOn: failOn(info.format) })
      .autoOrient()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .resize(size, size, { fit: policy === 'squash' ? 'fill' : 'cover', kernel: 'lanczos3' })
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer();
    if (pixels.length !== size * size * 3) throw new Error(`decoded ${pixels.length} bytes, expected ${size * size * 3}`);
    return { ...info, pixels, size };
  } catch (error) {
    throw new TagsmithError('not_an_image', `The ${info.format.toUpperCase()} image could not be decoded (truncated or corrupt?).`, { cause: error });
  }
}

/** The upright image scaled so its longer side is at most `maxSide`, as RGB bytes. */
export async function decodeThumbnailRgb(bytes: Uint8Array, maxSide: number, header?: ImageInfo): Promise<{ pixels: Buffer; width: number; height: number }> {
  const { format } = header ?? (await inspectImage(bytes));
  try {
    const { data, info } = await sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS, pages: 1, failOn: failOn(format) })
      .autoOrient()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .resize(maxSide, maxSide, { fit: 'inside', withoutEnlargement: true })
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    return { pixels: data, width: info.width, height: info.height };
  } catch (error) {
    throw new TagsmithError('not_an_image', 'The image could not be decoded (truncated or corrupt?).', { cause: error });
  }
}
