// Turns untrusted image bytes into the RGB pixels a model wants. sharp decodes; this file
// decides what is accepted: raster formats only (an SVG could reference other files), a pixel
// limit read from the header before any decoding, and the first frame of an animation.
import sharp, { type Metadata, type OutputInfo, type Sharp } from 'sharp';
import { TagsmithError } from '../errors';
import { profileIsSrgb } from './colour-profile';
import { halveByBox } from './halve-by-box';

/**
 * How strict decoding is: any truncation fails; for PNG also a warning, because libpng
 * reports a corrupt chunk checksum only as a warning. (JPEG warnings stay tolerated: real
 * cameras write harmless ones, such as extraneous bytes before a marker.)
 */
function failOn(format: string): 'warning' | 'truncated' {
  return format === 'png' ? 'warning' : 'truncated';
}

// libvips keeps recent operations for reuse (100 of them, up to 50 MB, by default). The decoders
// here never repeat an operation on the same input, so the cache only costs: bench:features
// measured the pipeline faster without it (its row "libvips cache on (before)"). Process-wide:
// the kernel's other sharp users (thumbnails, written once and kept on disk) gain nothing from it either.
sharp.cache(false);

/** 100 megapixels: a 20000×20000 image is refused before a single pixel is decoded. */
export const MAX_INPUT_PIXELS = 100_000_000;
const ACCEPTED_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif']);

export type ResizePolicy = 'squash' | 'center-crop';

export interface ImageInfo {
  format: string;
  /** Size after EXIF rotation. */
  width: number;
  height: number;
  /** The embedded ICC profile, if any: for decoding only, never stored. */
  iccProfile?: Buffer;
  /** 16 bits a channel, RGB: sharp converts such an image's profile to Display P3, not sRGB. */
  rgb16?: boolean;
}

/** What is kept of an image beside its pixels: never its profile. */
export type ImageDescription = Omit<ImageInfo, 'iccProfile' | 'rgb16'>;

export interface DecodedImage extends ImageDescription {
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
  return { format, width, height, ...(meta.icc ? { iccProfile: meta.icc } : {}), ...(meta.space === 'rgb16' ? { rgb16: true } : {}) };
}

/** What a record keeps of an image: its format and upright size. */
function describe(info: ImageInfo): ImageDescription {
  return { format: info.format, width: info.width, height: info.height };
}

/**
 * sharp over untrusted bytes with this file's limits (the pixel limit, the first frame, strict
 * failure), turned upright, alpha flattened onto white, in sRGB. An sRGB profile is not
 * converted (colour-profile.ts: it changes no colour by more than a level and costs more than
 * the decoding); any other profile is.
 */
async function openUpright(bytes: Uint8Array, info: ImageInfo, profiles: ColourProfilePolicy = 'skip-srgb'): Promise<Sharp> {
  const ignoreIcc = profiles === 'skip-srgb' && info.iccProfile !== undefined && (await profileIsSrgb(info.iccProfile));
  const image = sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS, pages: 1, failOn: failOn(info.format), ignoreIcc })
    .autoOrient()
    .flatten({ background: '#ffffff' })
    .toColourspace('srgb');
  // sharp converts a 16-bit image's profile to Display P3 and then only narrows the numbers to
  // 8 bits, so its colours would be read as sRGB's, 5–10 levels off on average: the last step
  // converts them from P3 to sRGB.
  return info.rgb16 && info.iccProfile !== undefined && !ignoreIcc ? image.withIccProfile('srgb') : image;
}

/** Decodes, rotates upright, flattens alpha onto white, converts to sRGB and resizes. `header`: what `inspectImage` said of these bytes, if the caller asked already. */
export async function decodeForModel(bytes: Uint8Array, size: number, policy: ResizePolicy, header?: ImageInfo): Promise<DecodedImage> {
  return (await decodeImage(bytes, { size, policy }, header)).model;
}

export interface DecodeRequest {
  /** The model's square input. */
  size: number;
  policy: ResizePolicy;
  /** Also the cue image (decodeCueImage's) of the whole image. */
  cues?: boolean;
  /** Default `skip-srgb`. */
  profiles?: ColourProfilePolicy;
}

/** `skip-srgb`: an sRGB profile is not converted (colour-profile.ts); `convert-all`: every profile is, as sharp does by default. */
export type ColourProfilePolicy = 'skip-srgb' | 'convert-all';

export interface RgbImage {
  pixels: Uint8Array;
  width: number;
  height: number;
}

/**
 * The shorter side the cue image is scaled to before its 2×2 average: the default backbone's
 * input, so that backbone's decode serves both.
 */
export const CUE_SCALED_SIDE = 320;

/**
 * The model's pixels and, if asked, the cue image, from one decode where it can: a centre crop
 * of CUE_SCALED_SIDE is the image scaled so its shorter side is that (JPEG shrink-on-load does
 * most of it inside the decoder) and cut in the middle, and that scaled image, halved, is the
 * cue image, so the file is decoded once. The crop is where sharp's own `cover` takes it, so
 * the pixels are the same bytes as before.
 */
export async function decodeImage(bytes: Uint8Array, request: DecodeRequest, header?: ImageInfo): Promise<{ model: DecodedImage; cues?: RgbImage }> {
  const info = header ?? (await inspectImage(bytes));
  const { size, policy, profiles } = request;
  const strip = isStrip(info);
  const shared = request.cues === true && policy === 'center-crop' && size === CUE_SCALED_SIDE && !strip;
  const cuesApart = request.cues === true && !shared ? decodeCueImage(bytes, info, profiles) : undefined;
  // Observed at once: should it fail while the model's decode is awaited, that is an outcome, not an unhandled rejection.
  cuesApart?.catch(() => {});
  try {
    const upright = await openUpright(bytes, info, profiles);
    // A strip's centre crop is cut before scaling: covering the square first would scale its length too.
    const side = Math.min(info.width, info.height);
    const cut = policy === 'center-crop' && strip ? upright.extract(centreSquare(info.width, info.height, side)) : upright;
    const { data, info: out } = await cut
      .resize(size, size, { fit: policy === 'squash' ? 'fill' : 'outside', kernel: 'lanczos3' })
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (out.channels !== 3 || out.width < size || out.height < size)
      throw new Error(`decoded ${out.width}×${out.height}×${out.channels}, expected at least ${size}²×3`);
    const pixels = centreCrop(data, out.width, out.height, size);
    const model = { ...describe(info), pixels, size };
    return { model, cues: shared ? halveByBox(data, out.width, out.height) : await cuesApart };
  } catch (error) {
    throw new TagsmithError('not_an_image', `The ${info.format.toUpperCase()} image could not be decoded (truncated or corrupt?).`, { cause: error });
  }
}

/**
 * Longer side over shorter side beyond which an image is a strip. Scaled to cover the model's
 * square as a photo is, a strip grows along its length: a 1×20000 PNG of a few hundred bytes
 * would become 320×6,400,000 pixels, gigabytes and seconds of CPU, and libvips crashed the
 * whole process on it. A strip's crop is cut before scaling and its cue image is capped.
 * Panoramas up to 16:1 keep the usual path.
 */
const STRIP_ASPECT = 16;

function isStrip(info: Pick<ImageInfo, 'width' | 'height'>): boolean {
  return Math.max(info.width, info.height) > STRIP_ASPECT * Math.min(info.width, info.height);
}

/** The middle side² region of a width × height image, where libvips' centre gravity puts a crop. */
function centreSquare(width: number, height: number, side: number): { left: number; top: number; width: number; height: number } {
  return { left: Math.floor((width - side + 1) / 2), top: Math.floor((height - side + 1) / 2), width: side, height: side };
}

/** The middle size² of an RGB image, where libvips' centre gravity puts it (odd margins: one more pixel left/top). */
function centreCrop(rgb: Buffer, width: number, height: number, size: number): Buffer {
  if (width === size && height === size) return rgb;
  const { left, top } = centreSquare(width, height, size);
  const out = Buffer.allocUnsafe(size * size * 3);
  for (let y = 0; y < size; y++) rgb.copy(out, y * size * 3, ((top + y) * width + left) * 3, ((top + y) * width + left + size) * 3);
  return out;
}

/**
 * The image the photographic cues are measured on (scores/image-cues.ts): the upright image
 * scaled, up or down, so its shorter side is CUE_SCALED_SIDE (lanczos3, as the model's decode
 * scales), then averaged over 2×2 blocks. The same bytes as decodeImage's shared path, for
 * backbones whose own decode cannot serve.
 */
export async function decodeCueImage(bytes: Uint8Array, header?: ImageInfo, profiles?: ColourProfilePolicy): Promise<RgbImage> {
  const info = header ?? (await inspectImage(bytes));
  // A strip is scaled so its longer side is STRIP_ASPECT times CUE_SCALED_SIDE instead (its shorter side then less than that, and at least 2 to halve).
  const long = STRIP_ASPECT * CUE_SCALED_SIDE;
  const across = (length: number) => Math.max(2, Math.round((length * long) / Math.max(info.width, info.height)));
  const target = isStrip(info)
    ? ({ width: across(info.width), height: across(info.height), fit: 'fill' } as const)
    : ({ width: CUE_SCALED_SIDE, height: CUE_SCALED_SIDE, fit: 'outside' } as const);
  let scaled: { data: Buffer; info: OutputInfo };
  try {
    scaled = await (
      await openUpright(bytes, info, profiles)
    )
      .resize(target.width, target.height, { fit: target.fit, kernel: 'lanczos3' })
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw new TagsmithError('not_an_image', `The ${info.format.toUpperCase()} image could not be decoded (truncated or corrupt?).`, { cause: error });
  }
  if (scaled.info.channels !== 3) throw new Error(`decoded ${scaled.info.channels} channels, expected 3`);
  return halveByBox(scaled.data, scaled.info.width, scaled.info.height);
}

/** An image scaled to fit inside a square and padded (black) around it: what a detector reads. */
export interface LetterboxedImage extends ImageDescription {
  /** size × size × 3 bytes, RGB, row-major. */
  pixels: Buffer;
  size: number;
  /** Where the image sits in the square, in pixels. */
  left: number;
  top: number;
  contentWidth: number;
  contentHeight: number;
}

/** The upright image scaled (up or down) so its longer side is `size`, centred in a black size² square. */
export async function decodeLetterboxed(bytes: Uint8Array, size: number, header?: ImageInfo): Promise<LetterboxedImage> {
  const info = header ?? (await inspectImage(bytes));
  let scaled: { data: Buffer; info: OutputInfo };
  try {
    scaled = await (
      await openUpright(bytes, info)
    )
      .resize(size, size, { fit: 'inside', kernel: 'lanczos3' })
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw new TagsmithError('not_an_image', `The ${info.format.toUpperCase()} image could not be decoded (truncated or corrupt?).`, { cause: error });
  }
  const { width, height, channels } = scaled.info;
  if (channels !== 3 || width > size || height > size) throw new Error(`decoded ${width}×${height}×${channels}, expected at most ${size}²×3`);
  const left = Math.floor((size - width) / 2);
  const top = Math.floor((size - height) / 2);
  const pixels = Buffer.alloc(size * size * 3);
  for (let y = 0; y < height; y++) scaled.data.copy(pixels, ((top + y) * size + left) * 3, y * width * 3, (y + 1) * width * 3);
  return { ...describe(info), pixels, size, left, top, contentWidth: width, contentHeight: height };
}
