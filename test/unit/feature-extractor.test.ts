// What a user sees when they hand the extractor real-world files: odd formats work, bad
// bytes get a typed error instead of a crash.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import sharp from 'sharp';
import { TagsmithError } from '../../kernel/errors';
import { FeatureExtractor } from '../../kernel/features/feature-extractor';
import { blobs, cosine, noise, pngHeaderOnly, scene } from '../helpers/images';

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof TagsmithError, `expected a TagsmithError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.ok(error.message.length > 10, 'the message explains the problem');
    return true;
  });
}

describe('FeatureExtractor', () => {
  let extractor: FeatureExtractor;
  let photo: Buffer;
  before(async () => {
    extractor = await FeatureExtractor.create({ threads: 2 });
    photo = await blobs(320, 240, 21).jpeg({ quality: 92 }).toBuffer();
  });

  it('embeds a JPEG into 1792 finite features and nsfw probabilities that sum to 1', async () => {
    const { features, nsfw, image } = await extractor.embed(photo);
    assert.equal(features.length, 1792);
    assert.ok(features.every(Number.isFinite));
    assert.deepEqual(Object.keys(nsfw), ['drawing', 'hentai', 'neutral', 'porn', 'sexy']);
    const sum = Object.values(nsfw).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < 1e-4);
    assert.deepEqual(image, { format: 'jpeg', width: 320, height: 240 });
  });

  it('reads EXIF orientation: a sideways-stored photo embeds like the upright one', async () => {
    // A scene, not stripes: averaged with its mirror image, a striped picture embeds much like
    // its quarter turn, so it could not tell whether EXIF was applied.
    const upright = await scene(300, 200, 3).jpeg({ quality: 95 }).toBuffer();
    // Store it rotated by 90° and tag it "rotate 270° to display" (orientation 8).
    const rotatedPixels = sharp(upright).rotate(90);
    const sideways = await rotatedPixels.clone().withMetadata({ orientation: 8 }).jpeg({ quality: 95 }).toBuffer();
    const ignoringExif = await rotatedPixels.clone().jpeg({ quality: 95 }).toBuffer();
    const a = await extractor.embed(upright);
    const b = await extractor.embed(sideways);
    const control = await extractor.embed(ignoringExif);
    assert.deepEqual([b.image.width, b.image.height], [300, 200]);
    const withExif = cosine(a.features, b.features);
    const withoutExif = cosine(a.features, control.features);
    assert.ok(withExif > 0.98 && withExif > withoutExif + 0.05, `cosine to upright: ${withExif} with EXIF applied, ${withoutExif} if it were ignored`);
  });

  it('accepts greyscale, CMYK, alpha, 16-bit, palette and animated images', async () => {
    const base = blobs(160, 120, 4);
    const variants: Record<string, Buffer> = {
      greyscale: await base.clone().greyscale().png().toBuffer(),
      cmyk: await base.clone().toColourspace('cmyk').jpeg().toBuffer(),
      alpha: await base.clone().ensureAlpha(1).webp({ lossless: true }).toBuffer(),
      sixteenBit: await base.clone().toColourspace('rgb16').tiff().toBuffer(),
      palette: await base.clone().png({ palette: true, colours: 16 }).toBuffer(),
      animated: await sharp(Buffer.concat([await base.clone().raw().toBuffer(), await blobs(160, 120, 5).raw().toBuffer()]), {
        raw: { width: 160, height: 240, channels: 3, pageHeight: 120 },
      })
        .gif()
        .toBuffer(),
      avif: await base.clone().avif({ effort: 0 }).toBuffer(),
    };
    const reference = await extractor.embed(await base.clone().png().toBuffer());
    for (const [name, bytes] of Object.entries(variants)) {
      const result = await extractor.embed(bytes);
      assert.equal(result.features.length, 1792, name);
      assert.ok(result.features.every(Number.isFinite), name);
      if (name !== 'greyscale' && name !== 'palette') assert.ok(cosine(result.features, reference.features) > 0.9, `${name} looks like the original`);
    }
    const animated = await extractor.embed(variants.animated);
    assert.deepEqual([animated.image.width, animated.image.height], [160, 120], 'first frame only');
  });

  it("answers an image someone waits for before a scan's queued images", async () => {
    const decoded = await extractor.decode(photo);
    const finished: string[] = [];
    const bulk = Array.from({ length: 40 }, (_, i) => extractor.embedDecoded(decoded, { lane: 'bulk' }).then(() => finished.push(`bulk ${i}`)));
    const waitedFor = extractor.embedDecoded(decoded).then((embedding) => {
      finished.push('interactive');
      return embedding;
    });
    await Promise.all([...bulk, waitedFor]);
    // Only the runs already handed to the two workers (a few images) may finish before it.
    const place = finished.indexOf('interactive');
    assert.ok(place <= 8, `the interactive image finished ${place + 1}th of 41`);
    // Batches of another size may round differently (model-conversion.test.ts), never more.
    assert.ok(
      cosine((await waitedFor).features, (await extractor.embedDecoded(decoded, { lane: 'bulk' })).features) > 0.999999,
      'the lane changes when, not what',
    );
  });

  it("decodes an image someone waits for before a scan's backlog of decodes", async () => {
    // sharp decodes in libuv's pool, first come first served; a large PNG has no shrink-on-load, so
    // each of these takes a while: without a bound on the scan's decodes, all 24 would be queued
    // ahead of the waited-for one (it then finished 14th of 25).
    const large = await noise(2400, 1800, 5).png({ compressionLevel: 1 }).toBuffer();
    const finished: string[] = [];
    const bulk = Array.from({ length: 24 }, (_, i) => extractor.embedWithCueImage(large, { lane: 'bulk' }).then(() => finished.push(`bulk ${i}`)));
    const waitedFor = extractor.embedWithCueImage(photo).then(() => finished.push('interactive'));
    await Promise.all([...bulk, waitedFor]);
    const place = finished.indexOf('interactive');
    assert.ok(place <= 6, `the interactive image finished ${place + 1}th of 25`);
  });

  it('refuses bytes that are not an image', async () => {
    await rejectsWith(extractor.embed(Buffer.from('this is a text file, not a photo')), 'not_an_image');
    await rejectsWith(extractor.embed(Buffer.alloc(0)), 'not_an_image');
  });

  it('refuses a truncated JPEG', async () => {
    await rejectsWith(extractor.embed(photo.subarray(0, Math.floor(photo.length / 2))), 'not_an_image');
  });

  it('refuses an SVG, which could reference other files', async () => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><image href="file:///etc/passwd"/></svg>');
    await rejectsWith(extractor.embed(svg), 'not_an_image');
  });

  it('refuses a 20000×20000 PNG before decoding it', async () => {
    const before = process.memoryUsage().rss;
    await rejectsWith(extractor.embed(pngHeaderOnly(20000, 20000)), 'image_too_large');
    assert.ok(process.memoryUsage().rss - before < 200e6, 'no 1.2 GB pixel buffer was allocated');
  });
});
