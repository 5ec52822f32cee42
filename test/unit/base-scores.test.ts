// The transparent aesthetic and stock scores must fall as a photo gets worse.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp, { type Sharp } from 'sharp';
import { decodeCueImage } from '../../kernel/images/image-decoder';
import { measureCues } from '../../kernel/scores/image-cues';
import { aestheticScore, stockScore } from '../../kernel/scores/base-scores';
import { scene, seededRandom } from '../helpers/images';

const SAFE = { drawing: 0, hentai: 0, neutral: 1, porn: 0, sexy: 0 };

async function scores(bytes: Buffer): Promise<{ aesthetic: number; stock: number }> {
  const { pixels, width, height } = await decodeCueImage(bytes);
  const aesthetic = aestheticScore(measureCues(pixels, width, height)).score;
  const meta = await sharp(bytes).metadata();
  return { aesthetic, stock: stockScore(aesthetic, { width: meta.width!, height: meta.height! }, SAFE).score };
}

async function withNoise(image: Sharp, amount: number): Promise<Buffer> {
  const { data, info } = await image.clone().raw().toBuffer({ resolveWithObject: true });
  const random = seededRandom(9);
  const noisy = Buffer.from(data.map((v: number) => Math.max(0, Math.min(255, v + (random() - 0.5) * 2 * amount))));
  return sharp(noisy, { raw: { width: info.width, height: info.height, channels: info.channels } })
    .png()
    .toBuffer();
}

function assertFalling(name: string, values: number[]): void {
  for (let i = 1; i < values.length; i++) {
    assert.ok(values[i] < values[i - 1], `${name} should fall at step ${i}: ${values.map((v) => v.toFixed(3)).join(' → ')}`);
  }
}

describe('aesthetic and stock scores', () => {
  const photo = () => scene(640, 480, 3);

  for (const [degradation, make] of [
    [
      'blurred',
      (step: number) =>
        step === 0
          ? photo().png().toBuffer()
          : photo()
              .blur(step * 1.5)
              .png()
              .toBuffer(),
    ],
    [
      'darkened',
      (step: number) =>
        photo()
          .linear(1 - step * 0.17, 0)
          .png()
          .toBuffer(),
    ],
    ['noised', (step: number) => withNoise(photo(), step * 18)],
  ] as const) {
    it(`fall monotonically as the photo is ${degradation} in 5 steps`, async () => {
      const steps = await Promise.all([0, 1, 2, 3, 4, 5].map(async (s) => scores(await make(s))));
      assertFalling(
        `aesthetic (${degradation})`,
        steps.map((s) => s.aesthetic),
      );
      assertFalling(
        `stock (${degradation})`,
        steps.map((s) => s.stock),
      );
      for (const s of steps) assert.ok(s.aesthetic >= 0 && s.aesthetic <= 1 && s.stock >= 0 && s.stock <= 1);
    });
  }

  it('stock prefers a large safe photo to a small or unsafe one', () => {
    const big = stockScore(0.7, { width: 4000, height: 3000 }, SAFE).score;
    const small = stockScore(0.7, { width: 400, height: 300 }, SAFE).score;
    const unsafe = stockScore(0.7, { width: 4000, height: 3000 }, { ...SAFE, porn: 0.9, neutral: 0.1 }).score;
    assert.ok(big > small && big > unsafe);
  });
});
