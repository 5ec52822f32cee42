// Small synthetic images for tests, made with sharp so a fresh clone needs no photo set.
import zlib from 'node:zlib';
import type { Sharp } from 'sharp';

/** A deterministic pseudo-random generator (mulberry32), so "noise" is the same every run. */
import { seededRandom } from '../../kernel/ml/random';
import { blobs, rgbImage, stripes } from '../../kernel/notebook/demo-images';

export { blobs, rgbImage, seededRandom, stripes };

/** A two-colour gradient. */
export function gradient(width: number, height: number, from: [number, number, number], to: [number, number, number]): Sharp {
  return rgbImage(width, height, (x, y) => {
    const t = (x / width + y / height) / 2;
    return [0, 1, 2].map((c) => from[c] + (to[c] - from[c]) * t) as [number, number, number];
  });
}

export function noise(width: number, height: number, seed: number): Sharp {
  const rnd = seededRandom(seed);
  return rgbImage(width, height, () => [rnd() * 255, rnd() * 255, rnd() * 255]);
}

/** A PNG whose header claims the given size but which carries no pixels: a decompression bomb's front. */
export function pngHeaderOnly(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer): Buffer => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, no interlace
  const idat = zlib.deflateSync(Buffer.alloc(1024));
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / Math.sqrt(na * nb);
}

/** A photo-like scene: a sky-to-ground gradient, hard-edged discs and a textured strip. */
export function scene(width: number, height: number, seed: number): Sharp {
  const random = seededRandom(seed);
  const discs = Array.from({ length: 12 }, () => ({
    x: random() * width,
    y: random() * height,
    r: (0.03 + random() * 0.12) * width,
    c: [random() * 255, random() * 255, random() * 255],
  }));
  return rgbImage(width, height, (x, y) => {
    let px = [60 + (120 * y) / height, 120 + (60 * x) / width, 200 - (100 * y) / height];
    for (const d of discs) if (Math.hypot(x - d.x, y - d.y) < d.r) px = d.c;
    if (y > height * 0.75 && (Math.floor(x / 8) + Math.floor(y / 8)) % 2 === 0) px = px.map((v) => v * 0.6);
    return px as [number, number, number];
  });
}
