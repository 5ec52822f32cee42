// A user's own ONNX image encoder in place of MobileNetV2: NCHW input with mean/std
// normalisation, a differently named output, no nsfw head. The engine feeds it exactly as
// its manifest says, trains and predicts on it, and refuses features from another backbone.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { OnnxGraphBuilder } from '../../models/onnx-graph-builder';
import { TagsmithEngine } from '../../kernel/engine/tagsmith-engine';
import { FeatureExtractor } from '../../kernel/features/feature-extractor';
import { blobImages, stripedImages, tempDir, waitForTask } from '../helpers/engine';
import { rgbImage } from '../helpers/images';

const MEAN = [0.5, 0.4, 0.3];
const STD = [0.25, 0.2, 0.5];

/** The smallest encoder there is: the mean colour of the image, one value per channel. */
async function writeMeanColourEncoder(dir: string, manifestPatch: Record<string, unknown> = {}): Promise<void> {
  const graph = new OnnxGraphBuilder('mean-colour');
  const pixels = graph.addInput('pixels', ['N', 3, 'H', 'W']);
  const [pooled] = graph.addNode('GlobalAveragePool', [pixels]);
  graph.addNode('Flatten', [pooled], { axis: 1 }, ['embedding']);
  graph.addOutput('embedding', ['N', 3]);
  await fs.writeFile(path.join(dir, 'mean-colour.onnx'), graph.toBytes(13, { name: 'tagsmith-test', version: '1' }));
  const entry = {
    description: 'mean colour (test encoder)',
    file: 'mean-colour.onnx',
    sha256: '',
    input: { name: 'pixels', size: 32, trainedSize: 32, layout: 'NCHW', channels: 'RGB', range: [0, 1], mean: MEAN, std: STD, ...manifestPatch },
    outputs: { features: { length: 3, name: 'embedding' } },
  };
  await fs.writeFile(path.join(dir, 'models.json'), JSON.stringify({ formatVersion: 1, backbone: 'mean-colour', models: { 'mean-colour': entry } }));
}

describe("a pluggable backbone (a user's own ONNX encoder)", () => {
  let modelsDir: string;
  let stateDir: string;
  let engine: TagsmithEngine;
  before(async () => {
    modelsDir = await tempDir('tagsmith-models-');
    stateDir = await tempDir('tagsmith-state-');
    await writeMeanColourEncoder(modelsDir);
    engine = await TagsmithEngine.open({ stateDir, modelsDir, threads: 1 });
  });
  after(async () => {
    await engine?.close();
    await fs.rm(modelsDir, { recursive: true, force: true });
    await fs.rm(stateDir, { recursive: true, force: true });
  });

  it("feeds pixels in the manifest's layout and normalisation", async () => {
    const extractor = await FeatureExtractor.create({ modelsDir });
    const colour: [number, number, number] = [200, 100, 50];
    const png = await rgbImage(40, 30, () => colour)
      .png()
      .toBuffer();
    const { features, nsfw } = await extractor.embed(png);
    const expected = colour.map((v, c) => (v / 255 - MEAN[c]) / STD[c]);
    features.forEach((f, c) => assert.ok(Math.abs(f - expected[c]) < 1e-4, `channel ${c}: ${f} vs ${expected[c]}`));
    assert.deepEqual(nsfw, {}, 'no head, no nsfw scores');
    await extractor.release();
  });

  it('trains and predicts on it, and its features say which backbone made them', async () => {
    for (const image of await stripedImages(5)) await engine.addSample('positive', 'warm', image);
    for (const image of await blobImages(5)) await engine.addSample('negative', 'warm', image);
    const task = await engine.train('warm');
    assert.equal((await waitForTask(engine, task.task_id)).state, 'done');
    const [unseen] = await stripedImages(1, 30);
    const prediction = await engine.predict(unseen);
    assert.equal(prediction.custom.warm.label, true);
    assert.deepEqual(prediction.base.nsfw, {});
    const doc = await engine.getFeatures(unseen);
    assert.deepEqual([doc.backbone, doc.features.length], ['mean-colour', 3]);
    assert.equal((await engine.predictByFeatures(doc)).custom.warm.score, prediction.custom.warm.score);
  });

  it('refuses features from another backbone, naming both', async () => {
    const foreign = { ...(await engine.getFeatures((await blobImages(1, 40))[0])), backbone: 'mobilenet_v2_140', features: new Array(1792).fill(0.1) };
    await assert.rejects(
      engine.predictByFeatures(foreign),
      (e: { code?: string; message?: string }) =>
        e.code === 'invalid_features' && /mobilenet_v2_140/.test(e.message ?? '') && /mean-colour/.test(e.message ?? ''),
    );
  });

  it('says what is wrong with a manifest before loading anything', async () => {
    const dir = await tempDir('tagsmith-models-');
    try {
      await writeMeanColourEncoder(dir, { layout: 'NWHC' });
      await assert.rejects(FeatureExtractor.create({ modelsDir: dir }), /input\.layout must be "NHWC" or "NCHW"/);
      await writeMeanColourEncoder(dir, { std: [1, 0, 1] });
      await assert.rejects(FeatureExtractor.create({ modelsDir: dir }), /input\.std must not contain 0/);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('switching a state folder to another backbone', () => {
  it('keeps samples, stops serving models of the old backbone, and re-embeds the images when a tag trains', async () => {
    const oldModels = await tempDir('tagsmith-models-');
    const newModels = await tempDir('tagsmith-models-');
    const stateDir = await tempDir('tagsmith-state-');
    try {
      await writeMeanColourEncoder(oldModels);
      // The same network under another id stands for any change of backbone or preprocessing.
      await writeMeanColourEncoder(newModels);
      const manifestFile = path.join(newModels, 'models.json');
      const manifest = JSON.parse(await fs.readFile(manifestFile, 'utf8'));
      manifest.models['mean-colour-v2'] = manifest.models['mean-colour'];
      manifest.backbone = 'mean-colour-v2';
      await fs.writeFile(manifestFile, JSON.stringify(manifest));

      const before = await TagsmithEngine.open({ stateDir, modelsDir: oldModels, threads: 1 });
      for (const image of await stripedImages(5)) await before.addSample('positive', 'warm', image);
      for (const image of await blobImages(5)) await before.addSample('negative', 'warm', image);
      assert.equal((await waitForTask(before, (await before.train('warm')).task_id)).state, 'done');
      const backup = await streamToBuffer(await before.getState());
      await before.close();

      const after = await TagsmithEngine.open({ stateDir, modelsDir: newModels, threads: 1 });
      try {
        const [summary] = await after.listTags();
        assert.deepEqual([summary.tag, summary.positives, summary.negatives, summary.trained], ['warm', 5, 5, false]);
        assert.match(summary.retrainReason ?? '', /Trained on backbone mean-colour; this engine runs mean-colour-v2: train again/);
        const [unseen] = await stripedImages(1, 30);
        assert.deepEqual((await after.predict(unseen)).custom, {}, "a model of another backbone is not applied to this one's vectors");

        const stages: string[] = [];
        const unsubscribe = after.onTaskChange((task) => stages.push(`${task.stage} ${task.progress?.toFixed(1)}`));
        assert.equal((await waitForTask(after, (await after.train('warm')).task_id)).state, 'done');
        unsubscribe();
        // The ten samples are embedded again first, and the task says so while it happens.
        assert.ok(stages.includes('embedding samples for mean-colour-v2 0.1'), stages.join(' | '));
        assert.ok(stages.includes('embedding samples for mean-colour-v2 1.0'), stages.join(' | '));
        assert.equal((await after.predict(unseen)).custom.warm.label, true);
        const [trained] = await after.listTags();
        assert.equal(trained.retrainReason, undefined);

        // An archive made on the old backbone restores too, with the same note.
        assert.deepEqual(await after.setState(Readable.from(backup)), { tags: 1, samples: 10 });
        assert.match((await after.listTags())[0].retrainReason ?? '', /train again/);
      } finally {
        await after.close();
      }
    } finally {
      for (const dir of [oldModels, newModels, stateDir]) await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

async function streamToBuffer(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe("the shipped manifest's backbones", () => {
  it('feeds each as its entry says, and an unknown id names the choices', async () => {
    const accurate = await FeatureExtractor.create({ threads: 1 });
    const fast = await FeatureExtractor.create({ threads: 1, backbone: 'mobilenet_v2_140' });
    try {
      assert.deepEqual([accurate.backboneId, accurate.inputSize], ['mobilenet_v2_140_int8_flip320', 320]);
      assert.deepEqual([fast.backboneId, fast.inputSize], ['mobilenet_v2_140', 288]);
      const [image] = await stripedImages(1, 30);
      const a = await accurate.embed(image);
      const b = await fast.embed(image);
      assert.equal(a.features.length, b.features.length);
      assert.notDeepEqual(Array.from(a.features.slice(0, 8)), Array.from(b.features.slice(0, 8)), 'another view of the image, another vector');
    } finally {
      await accurate.release();
      await fast.release();
    }
    await assert.rejects(
      FeatureExtractor.create({ backbone: '../models' }),
      /backbone \.\.\/models is not among the models \(mobilenet_v2_140_int8_flip320, mobilenet_v2_140_int8, mobilenet_v2_140_flip320, mobilenet_v2_140\)/,
    );
  });
});
