// `tagsmith predict` (the CLI, as a process) on a tag trained with apply_keywords: each image's
// keyword confidences are part of the tag's input, so the CLI must find them as the engine does
// and score every image as the engine's /predict scores it; without the keywords model it says
// so once, with the command that installs it, instead of failing on every image.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { TagsmithClient } from '../../kernel/client/tagsmith-client';
import { removeDir, runCli, startCliServer, type CliServer } from '../helpers/cli-server';
import { blobImages, tempDir } from '../helpers/engine';
import { scene } from '../helpers/images';
import { needsKeywordsModel, peopleWithDogs, PERSON_DOG_HORSE } from '../helpers/keyword-photos';

const TAG = 'field';
const INSTALLED_MODELS = path.resolve(__dirname, '../../models');

/** A models folder (for TAGSMITH_MODELS_DIR) holding links to the installed one's files, all but `leftOut`. */
async function installedModelsBut(leftOut: string): Promise<string> {
  const models = await tempDir('tagsmith-models-');
  for (const name of await fs.readdir(INSTALLED_MODELS)) {
    if (name !== leftOut) await fs.symlink(path.join(INSTALLED_MODELS, name), path.join(models, name));
  }
  return models;
}

describe('tagsmith predict with a tag trained on keywords', { ...needsKeywordsModel, timeout: 300_000 }, () => {
  let server: CliServer;
  let folder: string;
  before(async () => {
    server = await startCliServer();
    const client = new TagsmithClient({ url: server.url });
    const photo = await fs.readFile(PERSON_DOG_HORSE);
    const positives = [photo, await sharp(photo).flop().toBuffer(), await peopleWithDogs(), await sharp(photo).resize(400).jpeg({ quality: 80 }).toBuffer()];
    for (const bytes of positives) await client.addSample('positive', TAG, bytes);
    for (const bytes of await blobImages(4)) await client.addSample('negative', TAG, bytes);
    const task = await client.train(TAG, { apply_keywords: true, num_clusters: 1 });
    assert.equal(task.state, 'done', JSON.stringify(task));
    assert.equal((await client.tags()).find((t) => t.tag === TAG)?.options?.apply_keywords, true);

    // Images the tag never saw, some with people and dogs, some without.
    folder = await tempDir('tagsmith-predict-keywords-');
    await fs.mkdir(path.join(folder, 'shoot'));
    await sharp(photo)
      .greyscale()
      .jpeg()
      .toFile(path.join(folder, 'shoot', 'a-grey.jpg'));
    await sharp(photo)
      .rotate(8, { background: '#777' })
      .jpeg()
      .toFile(path.join(folder, 'shoot', 'b-tilted.jpg'));
    await fs.writeFile(path.join(folder, 'shoot', 'c-blob.jpg'), (await blobImages(1, 40))[0]);
    await scene(480, 360, 7)
      .jpeg()
      .toFile(path.join(folder, 'shoot', 'd-scene.jpg'));
  });
  after(async () => {
    await server?.stop();
    if (server) await removeDir(server.stateDir);
    if (folder) await removeDir(folder);
  });

  it("scores every image as the engine's /predict does (to 1e-6), keywords included", async () => {
    const result = await runCli(['predict', '--state', server.stateDir, 'shoot'], folder);
    assert.equal(result.code, 0, result.stderr);
    const records = result.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { path: string; tags: Record<string, { score: number; threshold: number; applies: boolean }> });
    assert.deepEqual(
      records.map((r) => r.path),
      ['shoot/a-grey.jpg', 'shoot/b-tilted.jpg', 'shoot/c-blob.jpg', 'shoot/d-scene.jpg'],
    );
    const client = new TagsmithClient({ url: server.url });
    for (const record of records) {
      const expected = (await client.predict(await fs.readFile(path.join(folder, record.path)))).custom[TAG];
      const got = record.tags[TAG];
      assert.ok(Math.abs(got.score - expected.score) <= 1e-6, `${record.path}: predict ${got.score}, the engine ${expected.score}`);
      assert.ok(Math.abs(got.threshold - expected.threshold) <= 1e-6, record.path);
      assert.equal(got.applies, expected.label, record.path);
    }
    assert.deepEqual(
      records.map((r) => r.tags[TAG].applies),
      [true, true, false, false],
      'the photos with people and dogs, not the pictures without',
    );
  });

  it('names a truncated JPEG among the photos on stderr and scores the rest, keywords included', async () => {
    const mixed = path.join(folder, 'mixed');
    await fs.mkdir(mixed);
    for (const name of await fs.readdir(path.join(folder, 'shoot'))) await fs.copyFile(path.join(folder, 'shoot', name), path.join(mixed, name));
    const whole = await fs.readFile(path.join(mixed, 'a-grey.jpg'));
    await fs.writeFile(path.join(mixed, 'b-broken.jpg'), whole.subarray(0, Math.floor(whole.length / 2)));
    const result = await runCli(['predict', '--state', server.stateDir, 'mixed'], folder);
    assert.equal(result.code, 1, 'a file was unreadable');
    const records = result.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { path: string; tags: Record<string, { applies: boolean }> });
    assert.deepEqual(
      records.map((r) => [r.path, r.tags[TAG].applies]),
      [
        ['mixed/a-grey.jpg', true],
        ['mixed/b-tilted.jpg', true],
        ['mixed/c-blob.jpg', false],
        ['mixed/d-scene.jpg', false],
      ],
    );
    assert.match(result.stderr, /^tagsmith: mixed\/b-broken\.jpg: .*(truncated|corrupt)/im);
    assert.match(result.stderr, /4 images .*, 1 skipped/);
  });

  it('refuses, before any image, a tag trained on the confidences of another keywords model than the installed one', async () => {
    // The install as it would be after its keywords model changed: same file, another id.
    const models = await installedModelsBut('models.json');
    try {
      const manifest = JSON.parse(await fs.readFile(path.join(INSTALLED_MODELS, 'models.json'), 'utf8'));
      const trainedOn = manifest.keywords.id;
      manifest.keywords.id = `${trainedOn}_next`;
      await fs.writeFile(path.join(models, 'models.json'), JSON.stringify(manifest));
      const result = await runCli(['predict', '--state', server.stateDir, 'shoot'], folder, { TAGSMITH_MODELS_DIR: models });
      assert.equal(result.code, 1);
      assert.equal(result.stdout, '', 'no image is scored with the wrong keywords');
      assert.equal(
        result.stderr,
        `tagsmith predict: Tag "field" (${trainedOn}) was trained with the keywords of another model than this install's ${trainedOn}_next: train it again.\n`,
      );
    } finally {
      await removeDir(models);
    }
  });

  it('without the keywords model, says which tag needs it and how to install it, once', async () => {
    // The same models folder without the detector's file.
    const models = await installedModelsBut('centernet_coco512.onnx');
    try {
      const result = await runCli(['predict', '--state', server.stateDir, 'shoot'], folder, { TAGSMITH_MODELS_DIR: models });
      assert.equal(result.code, 1);
      assert.equal(result.stdout, '', 'no image is scored without its keywords');
      assert.match(
        result.stderr,
        /^tagsmith predict: Tag "field" was trained with keywords \(apply_keywords\), and the keywords model is not installed \(centernet_coco512\.onnx is not installed\): run `npm run models:keywords`\.\n$/,
      );
    } finally {
      await removeDir(models);
    }
  });
});
