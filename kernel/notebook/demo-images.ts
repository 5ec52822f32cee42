// Two kinds of synthetic pictures (diagonal stripes and soft blobs), so a newcomer can try
// Tagsmith from a notebook before pointing it at real photos. Tests use the same drawings.
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { seededRandom } from '../ml/random';

type Rgb = [number, number, number];

export function rgbImage(width: number, height: number, pixel: (x: number, y: number) => Rgb): Sharp {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++)
      data.set(
        pixel(x, y).map((v) => Math.max(0, Math.min(255, Math.round(v)))),
        (y * width + x) * 3,
      );
  }
  return sharp(data, { raw: { width, height, channels: 3 } });
}

/** Diagonal stripes of a given period and colours, with a little noise. */
export function stripes(width: number, height: number, period: number, a: Rgb, b: Rgb, seed = 1): Sharp {
  const rnd = seededRandom(seed);
  const phase = rnd() * period;
  return rgbImage(width, height, (x, y) => (Math.floor((x + y + phase) / (period / 2)) % 2 === 0 ? a : b).map((v) => v + (rnd() - 0.5) * 20) as Rgb);
}

/** Soft blobs on a plain background. */
export function blobs(width: number, height: number, seed: number, background: Rgb = [40, 90, 160]): Sharp {
  const rnd = seededRandom(seed);
  const centres = Array.from({ length: 5 }, () => ({
    x: rnd() * width,
    y: rnd() * height,
    r: (0.1 + rnd() * 0.2) * width,
    c: [rnd() * 255, rnd() * 255, rnd() * 255],
  }));
  return rgbImage(width, height, (x, y) => {
    let px = [...background];
    for (const b of centres) {
      const w = Math.max(0, 1 - Math.hypot(x - b.x, y - b.y) / b.r);
      px = px.map((v, i) => v * (1 - w) + b.c[i] * w);
    }
    return px as Rgb;
  });
}

/** The n-th striped picture: colours and period vary, so a tag has more than one look. */
export function stripedPicture(n: number): Sharp {
  return stripes(200 + (n % 3) * 20, 180, 12 + (n % 4) * 6, [200 + (n % 5) * 10, 40 + ((n * 7) % 60), 30], [20, 20, 40 + (n % 3) * 30], n + 1);
}

export function blobPicture(n: number): Sharp {
  return blobs(200, 180, 100 + n);
}

/** Writes `count` JPEGs of each kind to `folder/stripes` and `folder/blobs`; returns their paths. */
export async function writeDemoImages(folder: string, count = 8): Promise<{ stripes: string[]; blobs: string[] }> {
  const write = async (kind: 'stripes' | 'blobs', draw: (n: number) => Sharp) => {
    await fs.mkdir(path.join(folder, kind), { recursive: true });
    return Promise.all(
      Array.from({ length: count }, async (_, n) => {
        const file = path.join(folder, kind, `${kind}-${n + 1}.jpg`);
        await fs.writeFile(file, await draw(n).jpeg({ quality: 90 }).toBuffer());
        return file;
      }),
    );
  };
  return { stripes: await write('stripes', stripedPicture), blobs: await write('blobs', blobPicture) };
}
