// The image the photographic cues are measured on: the same pixels whichever way it is made,
// so an image has one aesthetic score whichever backbone embedded it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { halveByBox } from '../../kernel/images/halve-by-box';
import { CUE_SCALED_SIDE, decodeCueImage, decodeImage } from '../../kernel/images/image-decoder';
import { stripedImages } from '../helpers/engine';
import { stripes } from '../helpers/images';

describe('the cue image', () => {
  it('averages each 2×2 block, rounding halves up, and drops an odd last row and column', () => {
    // 5×3: two blocks across, one down; the fifth column and third row are dropped.
    const rgb = new Uint8Array(5 * 3 * 3);
    const set = (x: number, y: number, v: [number, number, number]) => rgb.set(v, (y * 5 + x) * 3);
    set(0, 0, [0, 10, 255]);
    set(1, 0, [1, 10, 255]);
    set(0, 1, [0, 11, 255]);
    set(1, 1, [1, 11, 254]);
    set(2, 0, [200, 0, 0]);
    set(4, 2, [255, 255, 255]);
    const { pixels, width, height } = halveByBox(rgb, 5, 3);
    assert.deepEqual([width, height], [2, 1]);
    assert.deepEqual([...pixels], [1, 11, 255, 50, 0, 0]); // (0+1+0+1)/4 = 0.5 → 1; (10+10+11+11)/4 = 10.5 → 11; 1019/4 = 254.75 → 255; 200/4
    assert.throws(() => halveByBox(new Uint8Array(3), 1, 1), /cannot be halved/);
  });

  it('is bounded for a strip, whose model crop is its centre square scaled, upright whatever EXIF says', async () => {
    // Stripes 2 pixels wide with noise: a crop one pixel off is far from the right one. A few
    // kilobytes; covering 320² would scale it to 2,133,333×320.
    const lying = () => stripes(20000, 3, 4, [250, 20, 20], [20, 20, 250], 6).png();
    const strip = await lying().toBuffer();
    const upright = await lying().withMetadata({ orientation: 6 }).toBuffer(); // stored lying, shown standing: 3×20000
    for (const [bytes, across] of [
      [strip, true],
      [upright, false],
    ] as const) {
      const { model, cues } = await decodeImage(bytes, { size: CUE_SCALED_SIDE, policy: 'center-crop', cues: true });
      assert.equal(model.pixels.length, CUE_SCALED_SIDE ** 2 * 3);
      assert.deepEqual([model.width, model.height], across ? [20000, 3] : [3, 20000], 'the upright size');
      assert.equal(Math.max(cues!.width, cues!.height), (16 * CUE_SCALED_SIDE) / 2, 'the cue image is 16 times the scaled side long, halved');
      assert.equal(cues!.width > cues!.height, across);
      // The crop is the strip's middle 3×3 pixels (from 9999: libvips' centre, one more pixel
      // before than after), scaled: what the whole strip scaled to cover would show there.
      const middle = await sharp(bytes)
        .autoOrient()
        .extract(across ? { left: 9999, top: 0, width: 3, height: 3 } : { left: 0, top: 9999, width: 3, height: 3 })
        .resize(CUE_SCALED_SIDE, CUE_SCALED_SIDE, { kernel: 'lanczos3' })
        .raw()
        .toBuffer();
      assert.ok(middle.equals(model.pixels), 'the model sees the centre square');
    }
  });

  it('is the same bytes from the default backbone’s decode as decoded on its own, for a landscape, a portrait and a small image', async () => {
    const [photo] = await stripedImages(1);
    const images = [
      photo,
      await sharp(photo).rotate(90).jpeg().toBuffer(),
      await sharp(photo).resize(200, 150, { fit: 'fill' }).jpeg().toBuffer(), // smaller than the model's input: scaled up
    ];
    for (const bytes of images) {
      const shared = (await decodeImage(bytes, { size: CUE_SCALED_SIDE, policy: 'center-crop', cues: true })).cues!;
      const apart = await decodeCueImage(bytes);
      const meta = await sharp(bytes).metadata();
      assert.equal(Math.min(apart.width, apart.height), CUE_SCALED_SIDE / 2, 'the shorter side is half the scaled side');
      assert.equal(apart.width > apart.height, meta.width! > meta.height!, 'the aspect ratio is kept');
      assert.deepEqual([shared.width, shared.height], [apart.width, apart.height]);
      assert.ok(Buffer.from(shared.pixels).equals(Buffer.from(apart.pixels)), 'the same pixels on both paths');
      const squashed = (await decodeImage(bytes, { size: 224, policy: 'squash', cues: true })).cues!;
      assert.ok(Buffer.from(squashed.pixels).equals(Buffer.from(apart.pixels)), 'a backbone with another input gets the same cue image');
    }
  });
});
