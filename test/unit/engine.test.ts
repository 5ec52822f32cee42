// The engine end to end on generated images: samples, training, prediction, by-features,
// archive round trip — the path every client (HTTP, extension, notebook) goes through. Each
// test has its own engine; a trained tag is trained once and handed to the tests that change
// it as a restored archive.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { TaskView } from '../../kernel/api/wire-types';
import { TagsmithError } from '../../kernel/errors';
import type { EngineOptions, TagsmithEngine } from '../../kernel/engine/tagsmith-engine';
import { blobImages, enginesPerTest, openTestEngine, stateArchive, stripedImages, waitForTask } from '../helpers/engine';
import { firstEvent, Gate } from '../helpers/wait';

function code(c: string) {
  return (error: unknown) => error instanceof TagsmithError && error.code === c;
}

/** Striped positives and blob negatives, made once: tests only read them. */
const pictures = (async () => ({ positives: await stripedImages(8), negatives: await blobImages(8) }))();

const freshEngine = enginesPerTest();

async function addAll(engine: TagsmithEngine, tag: string, counts = { positives: 8, negatives: 8 }): Promise<void> {
  const { positives, negatives } = await pictures;
  for (const image of positives.slice(0, counts.positives)) await engine.addSample('positive', tag, image);
  for (const image of negatives.slice(0, counts.negatives)) await engine.addSample('negative', tag, image);
}

describe("an engine's samples", () => {
  it('adds samples once by content, and refuses the same image on the other side', async () => {
    const { engine, stateDir } = await freshEngine();
    const { positives, negatives } = await pictures;
    const first = await engine.addSample('positive', 'stripes', positives[0], { fileName: 'a/b/one.jpg' });
    assert.equal(first.added, true);
    assert.equal(first.sample.fileName, 'one.jpg');
    const again = await engine.addSample('positive', 'stripes', positives[0]);
    assert.equal(again.added, false);
    await assert.rejects(engine.addSample('negative', 'stripes', positives[0]), code('conflicting_sample'));
    for (const p of positives.slice(1)) await engine.addSample('positive', 'stripes', p);
    for (const n of negatives) await engine.addSample('negative', 'stripes', n);
    const tags = await engine.listTags();
    assert.deepEqual(
      tags.map((t) => [t.tag, t.positives, t.negatives, t.trained]),
      [['stripes', 8, 8, false]],
    );
    const images = await fs.readdir(path.join(stateDir, JSON.parse(await fs.readFile(path.join(stateDir, 'CURRENT'), 'utf8')).generation, 'images'));
    assert.equal(images.length, 16, 'each image stored once');
  });

  it('refuses tag names that could reach outside the state folder', async () => {
    const { engine } = await freshEngine();
    const { positives } = await pictures;
    for (const tag of ['../../etc', 'a/b', '..', '', '.hidden', 'x'.repeat(65), 'nul\0byte', '🙂']) {
      await assert.rejects(engine.addSample('positive', tag, positives[0]), code('invalid_tag'), JSON.stringify(tag));
    }
    const accepted = await engine.addSample('positive', 'Käfer_2024.v1', positives[1]);
    assert.equal(accepted.tag, 'Käfer_2024.v1');
    assert.deepEqual(
      (await engine.listTags()).map((t) => t.tag),
      ['Käfer_2024.v1'],
    );
  });

  it('refuses training with too few samples, saying how many are needed', async () => {
    const { engine } = await freshEngine();
    const { positives } = await pictures;
    await engine.addSample('positive', 'lonely', positives[0]);
    await addAll(engine, 'stripes', { positives: 8, negatives: 2 });
    await assert.rejects(
      engine.train('lonely'),
      (e: unknown) => code('not_enough_samples')(e) && /at least 2 positive and 2 negative/.test((e as Error).message),
    );
    await assert.rejects(
      engine.train('stripes', { num_clusters: 9 }),
      (e: unknown) => code('not_enough_samples')(e) && /9 clusters/.test((e as Error).message),
    );
    await assert.rejects(engine.train('stripes', { num_clusters: 0 }), code('invalid_option'));
    await assert.rejects(engine.train('nope'), code('unknown_tag'));
    assert.deepEqual(engine.listTasks(), [], 'nothing was queued');
  });
});

describe('a trained tag', () => {
  // Trained once here; the tests below that change a state restore this one into their own engine.
  let trained: TagsmithEngine;
  let trainedDir: string;
  let queued: TaskView;
  let done: TaskView;
  let archive: Buffer;
  before(async () => {
    ({ engine: trained, stateDir: trainedDir } = await openTestEngine());
    await addAll(trained, 'stripes');
    queued = await trained.train('stripes', { num_clusters: 2 });
    done = await waitForTask(trained, queued.task_id);
    archive = await stateArchive(trained);
  });
  after(async () => {
    await trained?.close();
    if (trainedDir) await fs.rm(trainedDir, { recursive: true, force: true });
  });

  /** An engine of its own with the trained state restored into it. */
  async function restoredEngine(options: Partial<EngineOptions> = {}): Promise<{ engine: TagsmithEngine; stateDir: string }> {
    const made = await freshEngine(options);
    assert.deepEqual(await made.engine.setState(Readable.from([archive])), { tags: 1, samples: 16 });
    return made;
  }

  it('trains as a task and predicts new images of each kind on the right side of the threshold', async () => {
    assert.equal(queued.state, 'queued', 'train() answers at once, with the task queued');
    assert.equal(done.state, 'done', JSON.stringify(done.error));
    assert.ok(done.metrics!.rocAuc > 0.9, `cross-validated AUC ${done.metrics!.rocAuc}`);
    assert.equal(
      done.metrics!.clusterSizes.reduce((a, b) => a + b, 0),
      8,
    );

    const [newStripes] = await stripedImages(1, 50);
    const [newBlob] = await blobImages(1, 50);
    const yes = await trained.predict(newStripes);
    const no = await trained.predict(newBlob);
    assert.equal(yes.custom.stripes.label, true, `striped image scored ${yes.custom.stripes.score}`);
    assert.equal(no.custom.stripes.label, false, `blob image scored ${no.custom.stripes.score}`);
    assert.ok(yes.base.aesthetic.score >= 0 && yes.base.aesthetic.score <= 1);
    assert.ok('sharpness' in yes.base.aesthetic.components && 'resolution' in yes.base.stock.components);
    assert.deepEqual(Object.keys(yes.base.nsfw), ['drawing', 'hentai', 'neutral', 'porn', 'sexy']);
    const tags = await trained.listTags();
    assert.equal(tags[0].trained && !tags[0].stale, true);
  });

  it('predicts from a saved features document as from the image, and refuses a wrong one', async () => {
    const [image] = await stripedImages(1, 60);
    const direct = await trained.predict(image);
    const doc = JSON.parse(JSON.stringify(await trained.getFeatures(image)));
    assert.equal(doc.features.length, 1792);
    const byFeatures = await trained.predictByFeatures(doc);
    assert.ok(Math.abs(byFeatures.custom.stripes.score - direct.custom.stripes.score) < 1e-6);
    assert.ok(Math.abs(byFeatures.base.nsfw.neutral - direct.base.nsfw.neutral) < 1e-4, 'nsfw head recomputed from the vector');
    await assert.rejects(trained.predictByFeatures({ ...doc, features: doc.features.slice(1) }), code('invalid_features'));
    await assert.rejects(trained.predictByFeatures({ ...doc, features: [...doc.features.slice(1), Number.NaN] }), code('invalid_features'));
    await assert.rejects(trained.predictByFeatures({ ...doc, backbone: 'clip-vit-b32' }), code('invalid_features'));
    await assert.rejects(trained.predictByFeatures('junk'), code('invalid_features'));
  });

  it('backs up, cleans everything, restores, and predicts identically', async () => {
    const { engine } = await restoredEngine();
    const [probe] = await stripedImages(1, 70);
    const before = await engine.predict(probe);
    const backup = await stateArchive(engine);
    await engine.clean('stripes');
    assert.deepEqual(await engine.listTags(), []);
    await assert.rejects(engine.predictCustom(probe, 'stripes'), code('unknown_tag'));
    const restored = await engine.setState(Readable.from([backup]));
    assert.deepEqual(restored, { tags: 1, samples: 16 });
    const after = await engine.predict(probe);
    assert.deepEqual(after.custom, before.custom);
    assert.equal((await engine.listSamples('stripes')).positives.length, 8);
  });

  it('moves and removes samples, and marks the model stale', async () => {
    const { engine } = await restoredEngine();
    const { positives: list } = await engine.listSamples('stripes');
    await engine.moveSample('stripes', list[0].id, 'negative');
    const moved = await engine.listSamples('stripes');
    assert.equal(moved.positives.length, 7);
    assert.equal(moved.negatives.length, 9);
    assert.equal((await engine.listTags())[0].stale, true);
    await engine.removeSample('stripes', list[0].id);
    assert.equal((await engine.listSamples('stripes')).negatives.length, 8);
    await assert.rejects(engine.removeSample('stripes', list[0].id), code('unknown_sample'));
  });

  it('keeps task history across a crash; the task cut off reads failed: interrupted', async () => {
    // The new task is held as it starts (its record on disk says running) while the folder is copied.
    const release = new Gate();
    const { engine, stateDir } = await restoredEngine({ hooks: { beforeTraining: () => release.wait() } });
    const running = firstEvent(engine.onTaskChange.bind(engine), (t) => t.state === 'running', 'the new task runs');
    const task = await engine.train('stripes');
    assert.equal((await running).task_id, task.task_id);
    // What a crash leaves on disk: the state folder as it is while the task runs.
    const crashed = `${stateDir}-crashed`;
    await fs.cp(stateDir, crashed, { recursive: true });
    release.open();
    const reopened = (await openTestEngine(crashed)).engine;
    try {
      const status = reopened.status(task.task_id);
      assert.equal(status.state, 'failed');
      assert.equal(status.error?.code, 'interrupted');
      assert.ok(
        reopened.listTasks('stripes').some((t) => t.state === 'done'),
        'the earlier finished run is still in the history',
      );
      assert.equal((await reopened.listTags())[0].trained, true, 'the previous model still serves');
    } finally {
      await reopened.close();
      await fs.rm(crashed, { recursive: true, force: true });
    }
    await waitForTask(engine, task.task_id);
  });
});
