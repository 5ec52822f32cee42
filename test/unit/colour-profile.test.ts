// Embedded colour profiles (kernel/images/colour-profile.ts): an sRGB profile is decoded as the
// sRGB it is (the conversion costs more than the decoding and changes nothing), a wide-gamut
// one is still converted, so a photo tagged Display P3 keeps its colours.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { largestShift, profileIsSrgb, PROFILE_TOLERANCE } from '../../kernel/images/colour-profile';
import { decodeImage, inspectImage } from '../../kernel/images/image-decoder';
import { noise, scene } from '../helpers/images';

/** A built-in profile of libvips ('srgb', 'p3', 'cmyk'), as the bytes a file would embed. */
async function builtInProfile(name: string): Promise<Buffer> {
  const channels = name === 'cmyk' ? 4 : 3;
  const tagged = sharp({ create: { width: 2, height: 2, channels, background: '#808080' } }).withIccProfile(name);
  const png = await (name === 'cmyk' ? tagged.jpeg() : tagged.png()).toBuffer();
  const { icc } = await sharp(png).metadata();
  assert.ok(icc, `libvips embeds its ${name} profile`);
  return icc;
}

describe('embedded colour profiles', () => {
  it('skips the conversion for an sRGB profile and keeps it for wide-gamut and CMYK ones', async () => {
    assert.equal(await profileIsSrgb(undefined), true, 'no profile: sRGB by convention');
    const srgb = await builtInProfile('srgb');
    assert.ok((await largestShift(srgb)) <= PROFILE_TOLERANCE);
    assert.equal(await profileIsSrgb(srgb), true);
    const p3 = await builtInProfile('p3');
    assert.ok((await largestShift(p3)) > 10, 'Display P3 moves saturated colours by many levels');
    assert.equal(await profileIsSrgb(p3), false);
    assert.equal(await profileIsSrgb(await builtInProfile('cmyk')), false, 'not an RGB profile');
    // A profile libvips cannot use converts nothing, so skipping it changes nothing either.
    const broken = Buffer.from(srgb);
    broken.fill(0x41, 128); // the header says RGB; the tags are garbage
    assert.equal(await largestShift(broken), 0);
  });

  it('decodes an sRGB-tagged photo as the untagged one, and converts a Display P3 photo back to its sRGB colours', async () => {
    const pixels = await noise(320, 240, 7).raw().toBuffer();
    const raw = { raw: { width: 320, height: 240, channels: 3 as const } };
    const decode = async (bytes: Buffer) => (await decodeImage(bytes, { size: 224, policy: 'center-crop' }, await inspectImage(bytes))).model.pixels;
    const untagged = await decode(await sharp(pixels, raw).png().toBuffer());
    const srgbTagged = await sharp(pixels, raw).withIccProfile('srgb').png().toBuffer();
    assert.ok((await inspectImage(srgbTagged)).iccProfile, 'the profile is seen');
    assert.deepEqual(await decode(srgbTagged), untagged);

    // The same colours stored as Display P3 values (libvips converts them on the way out):
    // decoded with the profile applied they come back to the sRGB ones, give or take rounding.
    const p3Tagged = await sharp(pixels, raw).withIccProfile('p3').png().toBuffer();
    const fromP3 = await decode(p3Tagged);
    const asStored = await sharp(p3Tagged, { ignoreIcc: true }).raw().toBuffer();
    const meanShift = (a: Buffer, b: Buffer) => a.reduce((sum, v, i) => sum + Math.abs(v - b[i]), 0) / a.length;
    // The round trip through 8-bit P3 values moves a channel by 0.2–0.3 levels on average; read
    // without its profile the photo would be off by 11.
    assert.ok(meanShift(asStored, pixels) > 5, `read as stored: ${meanShift(asStored, pixels).toFixed(2)} levels off`);
    assert.ok(meanShift(fromP3, untagged) < 1, `P3 converted back: ${meanShift(fromP3, untagged).toFixed(2)} levels off`);
  });

  it('converts a 16-bit photo with a Display P3 profile to its sRGB colours, not to P3 numbers read as sRGB', async () => {
    // sharp converts a 16-bit image's profile to Display P3: read as sRGB, this scene came out
    // 5.3 levels off on average before the decoder converted the result on to sRGB.
    const pixels = await scene(320, 240, 7).raw().toBuffer();
    const raw = { raw: { width: 320, height: 240, channels: 3 as const } };
    const decode = async (bytes: Buffer) => (await decodeImage(bytes, { size: 224, policy: 'center-crop' }, await inspectImage(bytes))).model.pixels;
    const meanShift = (a: Buffer, b: Buffer) => a.reduce((sum, v, i) => sum + Math.abs(v - b[i]), 0) / a.length;
    const eightBit = await decode(await sharp(pixels, raw).png().toBuffer());
    for (const profile of ['p3', 'srgb']) {
      const sixteenBit = await sharp(pixels, raw).withIccProfile(profile).toColourspace('rgb16').png({ force: true }).toBuffer();
      assert.equal((await inspectImage(sixteenBit)).rgb16, true);
      const shift = meanShift(await decode(sixteenBit), eightBit);
      assert.ok(shift < 1, `16-bit ${profile}: ${shift.toFixed(2)} levels off the 8-bit decode`);
    }
  });
});
