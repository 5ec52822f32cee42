// The ONNX file converted at install must compute what the original TF.js model computes.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import type * as tf from '@tensorflow/tfjs';
import { readManifest } from '../../models/manifest';
import { FeatureExtractor } from '../../kernel/features/feature-extractor';
import { findModelsDir } from '../../kernel/features/models-dir';
import { blobs, cosine, gradient, noise, stripes } from '../helpers/images';
import { loadDetectorReference, loadReferenceModel, runDetectorReference, runReference } from '../helpers/tfjs-reference';
import { KeywordDetector } from '../../kernel/features/keyword-detector';
import { decodeLetterboxed } from '../../kernel/images/image-decoder';
import { keywordSourceDir } from '../../models/install-keywords';

const modelsDir = findModelsDir();
const manifest = readManifest(modelsDir);
// The fp32 network is what converting the TF.js graph gives; the int8 default is made from it (below).
const FP32 = 'mobilenet_v2_140_flip320';
const entry = manifest.models[FP32];

async function testImages(): Promise<{ name: string; bytes: Buffer }[]> {
  return [
    { name: 'gradient', bytes: await gradient(320, 240, [250, 120, 30], [20, 40, 200]).jpeg({ quality: 90 }).toBuffer() },
    { name: 'shapes', bytes: await blobs(300, 300, 7).png().toBuffer() },
    { name: 'noise', bytes: await noise(256, 256, 3).png().toBuffer() },
    { name: 'greyscale', bytes: await stripes(280, 200, 24, [230, 230, 230], [30, 30, 30]).greyscale().jpeg().toBuffer() },
    {
      name: 'alpha',
      bytes: await blobs(240, 240, 11).ensureAlpha(0.5).png().toBuffer(),
    },
    { name: 'portrait', bytes: await gradient(180, 360, [10, 200, 90], [240, 240, 20]).webp().toBuffer() },
  ];
}

describe('ONNX conversion of nsfwjs mobilenet_v2_mid', () => {
  let reference: tf.GraphModel;
  let extractor: FeatureExtractor;
  before(async () => {
    reference = await loadReferenceModel('cpu');
    // TF.js can only run the graph at the size it was trained at; so does this comparison.
    extractor = await FeatureExtractor.create({ threads: 2, backbone: FP32, inputSize: entry.input.trainedSize, flipAverage: false });
  });

  it('installed files match the sha256 recorded in models.json', () => {
    const hash = (file: string) =>
      crypto
        .createHash('sha256')
        .update(fs.readFileSync(path.join(modelsDir, file)))
        .digest('hex');
    assert.equal(hash(entry.file), entry.sha256);
    assert.equal(hash(entry.outputs.nsfw!.headFile), entry.outputs.nsfw!.headSha256);
  });

  it('gives the same features and nsfw scores as TF.js on six kinds of image', async () => {
    const images = await testImages();
    const size = entry.input.trainedSize;
    for (const image of images) {
      const decoded = await extractor.decode(image.bytes); // the pixels the pipeline feeds ONNX
      const input = Float32Array.from(decoded.pixels, (v) => v / 255);
      const expected = await runReference(reference, input, 1, size);
      const actual = await extractor.embed(image.bytes);
      assert.equal(actual.features.length, 1792);
      const nsfw = extractor.labels.map((label) => actual.nsfw[label]);
      const maxDelta = Math.max(...nsfw.map((v, i) => Math.abs(v - expected.nsfw[i])));
      assert.ok(maxDelta <= 1e-4, `${image.name}: nsfw differs by ${maxDelta}`);
      const similarity = cosine(actual.features, expected.features);
      assert.ok(similarity >= 0.9999, `${image.name}: features cosine ${similarity}`);
    }
  });

  it('the head model scores a saved feature vector as the full model does, one view or two', async () => {
    const head = await ort.InferenceSession.create(path.join(modelsDir, entry.outputs.nsfw!.headFile));
    const bytes = await blobs(200, 200, 5).jpeg().toBuffer();
    // The default (int8) backbone: its graph's head reads int8-made features, the head file scores them in fp32.
    const flipping = await FeatureExtractor.create({ threads: 2 });
    assert.equal(manifest.models[manifest.backbone].input.flipAverage, true, 'the default backbone averages each image with its mirror image');
    for (const model of [extractor, flipping]) {
      const full = await model.embed(bytes);
      const out = await head.run({ features: new ort.Tensor('float32', full.features, [1, 1792]) });
      const fromHead = out.nsfw.data as Float32Array;
      extractor.labels.forEach((label, i) => assert.ok(Math.abs(fromHead[i] - full.nsfw[label]) < 1e-5, `${label}: ${fromHead[i]} vs ${full.nsfw[label]}`));
    }
    await flipping.release();
  });

  it('a batch of images gives each image the result it gets alone', async () => {
    const images = await testImages();
    const together = await Promise.all(images.map((i) => extractor.embed(i.bytes)));
    for (const [i, image] of images.entries()) {
      const alone = await extractor.embed(image.bytes);
      assert.ok(cosine(alone.features, together[i].features) > 0.999999, image.name);
    }
  });
});

describe('the int8 network made at install', () => {
  const int8Id = 'mobilenet_v2_140_int8_flip320';
  const int8 = readManifest(modelsDir, int8Id).models[int8Id];

  it('is in the manifest as its own backbone, quantised from the fp32 file, and its file matches the recorded sha256', () => {
    assert.equal(int8.quantization?.from, 'mobilenet_v2_140.onnx');
    assert.equal(int8.input.type, 'uint8');
    assert.notEqual(int8.file, manifest.models.mobilenet_v2_140_flip320.file);
    const bytes = fs.readFileSync(path.join(modelsDir, int8.file));
    assert.equal(crypto.createHash('sha256').update(bytes).digest('hex'), int8.sha256);
  });

  it('gives features within cosine 0.99 of the fp32 network on six kinds of image, and the same nsfw head', async () => {
    const fp32 = await FeatureExtractor.create({ threads: 2, backbone: 'mobilenet_v2_140_flip320' });
    const quantised = await FeatureExtractor.create({ threads: 2, backbone: int8Id });
    try {
      assert.equal(quantised.backboneId, int8Id);
      for (const image of await testImages()) {
        const [a, b] = await Promise.all([fp32.embed(image.bytes), quantised.embed(image.bytes)]);
        const similarity = cosine(a.features, b.features);
        assert.ok(similarity >= 0.99, `${image.name}: features cosine ${similarity}`);
        const top = (e: typeof a) => Object.entries(e.nsfw).sort((x, y) => y[1] - x[1])[0][0];
        assert.equal(top(b), top(a), `${image.name}: nsfw label`);
      }
    } finally {
      await Promise.all([fp32.release(), quantised.release()]);
    }
  });
});

describe('ONNX conversion of the keywords detector (human-models CenterNet)', () => {
  const keywords = manifest.keywords!;
  const status = KeywordDetector.availability(modelsDir);
  // The detector is an opt-in install: `.ci/run` runs it before the tests.
  const options = status.installed ? {} : { skip: `the keywords model is not installed (${status.reason}): run \`npm run models:keywords\`` };
  const size = keywords.input.size;

  /** The six kinds of generated image, and the real photo (generated shapes trigger no COCO class). */
  async function detectorImages(): Promise<{ name: string; bytes: Buffer }[]> {
    return [
      ...(await testImages()),
      { name: 'photo', bytes: await fs.promises.readFile(path.join(__dirname, '..', 'fixtures', 'keywords', 'person-dog-horse.jpg')) },
    ];
  }

  it('its file matches the sha256 recorded in models.json, and so do the package files it was converted from', options, () => {
    const hash = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    assert.equal(hash(path.join(modelsDir, keywords.file)), keywords.sha256);
    for (const [file, expected] of Object.entries(keywords.source.files)) {
      if (fs.existsSync(path.join(sources, file))) assert.equal(hash(path.join(sources, file)), expected, file);
    }
  });

  // The TF.js graph it was converted from, as `npm run models:keywords` left it in .cache/.
  const sources = keywordSourceDir(keywords, path.join(__dirname, '..', '..', '.cache'));
  const haveSources = Object.keys(keywords.source.files).every((f) => fs.existsSync(path.join(sources, f)));
  const againstTf =
    status.installed && !haveSources
      ? { skip: `${path.relative(process.cwd(), sources)} has no TF.js graph to compare with: run \`npm run models:keywords\`` }
      : options;

  it(
    "gives TF.js' detections on six generated images and a photo: every one above 0.05 with the same class, its score within 1e-4 and its box within 0.01 pixels",
    { ...againstTf, timeout: 300_000 },
    async () => {
      const reference = await loadDetectorReference(
        path.join(
          sources,
          Object.keys(keywords.source.files).find((f) => f.endsWith('.json'))!,
        ),
      );
      const session = await ort.InferenceSession.create(path.join(modelsDir, keywords.file), { intraOpNumThreads: 2 });
      try {
        let compared = 0;
        let worstScore = 0;
        let worstBox = 0;
        for (const image of await detectorImages()) {
          const { pixels } = await decodeLetterboxed(image.bytes, size);
          const onnxRows = (await session.run({ image: new ort.Tensor('uint8', new Uint8Array(pixels), [1, size, size, 3]) })).detections.data as Float32Array;
          const tfRows = await runDetectorReference(reference, pixels, size, keywords.source.outputNode);
          assert.equal(onnxRows.length, tfRows.length);
          // Ties among near-zero peaks may come out in another order: each TF.js detection that
          // counts is looked for among the ONNX ones of its class.
          for (let i = 0; i < tfRows.length; i += 6) {
            if (tfRows[i + 4] < 0.05) continue;
            let best = { score: Infinity, box: Infinity };
            for (let j = 0; j < onnxRows.length; j += 6) {
              if (onnxRows[j + 5] !== tfRows[i + 5]) continue;
              const box = Math.max(...[0, 1, 2, 3].map((k) => Math.abs(onnxRows[j + k] - tfRows[i + k])));
              const score = Math.abs(onnxRows[j + 4] - tfRows[i + 4]);
              if (box + score < best.box + best.score) best = { score, box };
            }
            assert.ok(
              best.score <= 1e-4 && best.box <= 0.01,
              `${image.name}: TF.js' ${keywords.labels[tfRows[i + 5]]} ${tfRows[i + 4].toFixed(4)} at [${Array.from(tfRows.slice(i, i + 4), (v) => v.toFixed(2))}] is off by score ${best.score}, box ${best.box}`,
            );
            worstScore = Math.max(worstScore, best.score);
            worstBox = Math.max(worstBox, best.box);
            compared++;
          }
        }
        assert.ok(compared >= 10, `only ${compared} detections above 0.05 to compare`);
        console.log(
          `keywords detector against TF.js: ${compared} detections, worst |Δscore| ${worstScore.toExponential(2)}, worst |Δbox| ${worstBox.toExponential(2)} px`,
        );
      } finally {
        await session.release();
      }
    },
  );
});
