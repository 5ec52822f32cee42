// Whether an image's embedded ICC profile is worth converting from. sharp converts every 8-bit
// image that carries a profile to sRGB, and for a photo of 0.2 megapixels that conversion costs
// more than the decoding (12 ms of CPU instead of 5 on this project's photos): lcms builds a
// transform for every image. Most profiles cameras and editors embed are sRGB's own, whose
// conversion moves no channel of a lattice of colours by more than one level; such an image is
// decoded as the sRGB it is. Which profiles those are is measured, not guessed from their names:
// the profile converts the lattice once, and the verdict is remembered by its bytes.
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import sharp from 'sharp';

/** Levels per channel of the test lattice: every 4th value and 255 (65³ = 274,625 colours). */
const LATTICE_LEVELS = [...Array.from({ length: 64 }, (_, i) => i * 4), 255];
/** How far the conversion may move a channel and still be skipped: JPEG decoders themselves differ by one level. */
export const PROFILE_TOLERANCE = 1;
/** Verdicts remembered (by the profile's sha256); a collection holds a few distinct profiles. */
const REMEMBERED = 256;
/**
 * Larger profiles are converted without a check. sRGB profiles are 0.5–9 KB; a check costs
 * 10–40 ms of CPU, so uploads each carrying another large profile could otherwise make the
 * engine spend more on checks than the conversions they save.
 */
const LARGEST_CHECKED = 64 * 1024;

const verdicts = new Map<string, Promise<boolean>>();
let lattice: Promise<Buffer> | undefined;
/** One check at a time: a burst of images with new profiles waits in line instead of taking every core. */
let checking: Promise<unknown> = Promise.resolve();

/**
 * True when decoding may ignore `profile`: no profile at all, or an RGB profile whose conversion
 * to sRGB moves no channel of any lattice colour by more than PROFILE_TOLERANCE. Wide-gamut
 * profiles (Adobe RGB, ProPhoto, Display P3) and any profile the check cannot read are converted
 * as before. Never throws.
 */
export async function profileIsSrgb(profile: Buffer | undefined): Promise<boolean> {
  if (!profile) return true;
  // ICC header: bytes 16–19 name the colour space; a grey or CMYK profile never qualifies.
  if (profile.length < 132 || profile.length > LARGEST_CHECKED || profile.toString('latin1', 16, 20) !== 'RGB ') return false;
  const key = crypto.createHash('sha256').update(profile).digest('hex');
  let verdict = verdicts.get(key);
  if (verdict) {
    verdicts.delete(key); // most recently used last, so a flood of new profiles evicts it last
  } else {
    verdict = checking
      .then(() => largestShift(profile))
      .then(
        (shift) => shift <= PROFILE_TOLERANCE,
        () => false,
      );
    checking = verdict;
    if (verdicts.size >= REMEMBERED) verdicts.delete(verdicts.keys().next().value!);
  }
  verdicts.set(key, verdict);
  return verdict;
}

/** The most any channel of a lattice colour moves when `profile` is converted to sRGB. */
export async function largestShift(profile: Buffer): Promise<number> {
  const png = withProfile(await latticePng(), profile);
  const [converted, asIs] = await Promise.all([sharp(png).raw().toBuffer(), sharp(png, { ignoreIcc: true }).raw().toBuffer()]);
  if (converted.length !== asIs.length) throw new Error('the lattice decoded to different sizes');
  let largest = 0;
  for (let i = 0; i < converted.length; i++) largest = Math.max(largest, Math.abs(converted[i] - asIs[i]));
  return largest;
}

/** Every lattice colour once, as a lossless RGB PNG (made once per process, 14 ms). */
function latticePng(): Promise<Buffer> {
  lattice ??= (() => {
    const count = LATTICE_LEVELS.length ** 3;
    const width = 1024;
    const height = Math.ceil(count / width);
    const rgb = Buffer.alloc(width * height * 3);
    let k = 0;
    for (const r of LATTICE_LEVELS) {
      for (const g of LATTICE_LEVELS) {
        for (const b of LATTICE_LEVELS) {
          rgb[k++] = r;
          rgb[k++] = g;
          rgb[k++] = b;
        }
      }
    }
    return sharp(rgb, { raw: { width, height, channels: 3 } })
      .png({ compressionLevel: 0, adaptiveFiltering: false })
      .toBuffer();
  })();
  return lattice;
}

/** The PNG with `profile` embedded: an iCCP chunk right after IHDR, where the PNG specification puts it. */
export function withProfile(png: Buffer, profile: Buffer): Buffer {
  const IHDR_END = 8 + 4 + 4 + 13 + 4; // signature, then IHDR's length, type, data and CRC
  const data = Buffer.concat([Buffer.from('icc\0\0', 'latin1'), zlib.deflateSync(profile)]); // name, NUL, method 0 (deflate)
  const type = Buffer.from('iCCP', 'latin1');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(Buffer.concat([type, data])));
  return Buffer.concat([png.subarray(0, IHDR_END), length, type, data, crc, png.subarray(IHDR_END)]);
}
