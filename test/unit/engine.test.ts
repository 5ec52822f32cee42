// The engine end to end on generated images: samples, training, prediction, by-features,
// archive round trip — the path every client (HTTP, extension, notebook) goes through.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { TagsmithError } from '../../kernel/errors';
import type { TagsmithEngine } from '../../kernel/engine/tagsmith-engine';
import { concurrencyLimit } from '../../kernel/engine/concurrency-limit';
import { TrainingQueue, type TrainingHost } from '../../kernel/engine/training-queue';
import { blobImages, openTestEngine, stripedImages, waitForTask } from '../helpers/engine';

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function code(c: string) {
  return (error: unknown) => error instanceof TagsmithError && error.code === c;
}

describe('TagsmithEngine', () => {
  let engine: TagsmithEngine;
  let stateDir: string;
  let positives: Buffer[];
  let negatives: Buffer[];
  before(async () => {
    ({ engine, stateDir } = await openTestEngine());
    positives = await stripedImages(8);
    negatives = await blobImages(8);
  });
  after(async () => {
    await engine.close();
    await fs.rm(stateDir, { recursive: true, force: true });
  });

  it('adds samples once by content, and refuses the same image on the other side', async () => {
    const first = await engine.addSample('positive', 'stripes', positives[0], { fileName: 'a/b/one.jpg' });
    assert.equal(first.added, true);
    assert.equal(first.sample.fileName, 'one.jpg');
    const again = await engine.addSample('positive', 'stripes', positives[0]);
    assert.equal(again.added, false);
    await assert.rejects(engine.addSample('negative', 'stripes', positives[0]), code('conflicting_sample'));
    for (const p of positives.slice(1)) await engine.addSample('positive', 'stripes', p);
    for (const n of negatives) await engine.addSample('negative', 'stripes', n);
    const tags = await engine.listTags();
    assert.deepEqual(tags.map((t) => [t.tag, t.positives, t.negatives, t.trained]), [['stripes', 8, 8, false]]);
    const images = await fs.readdir(path.join(stateDir, JSON.parse(await fs.readFile(path.join(stateDir, 'CURRENT'), 'utf8')).generation, 'images'));
    assert.equal(images.length, 16, 'each image stored once');
  });

  it('refuses tag names that could reach outside the state folder', async () => {
    for (const tag of ['../../etc', 'a/b', '..', '', '.hidden', 'x'.repeat(65), 'nul\0byte', '🙂']) {
      await assert.rejects(engine.addSample('positive', tag, positives[0]), code('invalid_tag'), JSON.stringify(tag));
    }
    const accepted = await engine.addSample('positive', 'Käfer_2024.v1', positives[1]);
    assert.equal(accepted.tag, 'Käfer_2024.v1');
    await engine.clean('Käfer_2024.v1');
  });

  it('refuses training with too few samples, saying how many are needed', async () => {
    await engine.addSample('positive', 'lonely', positives[2]);
    await assert.rejects(engine.train('lonely'), (e: unknown) => code('not_enough_samples')(e) && /at least 2 positive and 2 negative/.test((e as Error).message));
    await assert.rejects(engine.train('stripes', { num_clusters: 9 }), (e: unknown) => code('not_enough_samples')(e) && /9 clusters/.test((e as Error).message));
    await assert.rejects(engine.train('stripes', { num_clusters: 0 }), code('invalid_option'));
    await assert.rejects(engine.train('nope'), code('unknown_tag'));
    await engine.clean('lonely');
  });

  it('trains as a task and predicts new images of each kind on the right side of the threshold', async () => {
    const task = await engine.train('stripes', { num_clusters: 2 });
    assert.equal(task.state, 'queued');
    const done = await waitForTask(engine, task.task_id);
    assert.equal(done.state, 'done', JSON.stringify(done.error));
    assert.ok(done.metrics!.rocAuc > 0.9, `cross-validated AUC ${done.metrics!.rocAuc}`);
    assert.equal(done.metrics!.clusterSizes.reduce((a, b) => a + b, 0), 8);

    const [newStripes] = await stripedImages(1, 50);
    const [newBlob] = await blobImages(1, 50);
    const yes = await engine.predict(newStripes);
    const no = await engine.predict(newBlob);
    assert.equal(yes.custom.stripes.label, true, `striped image scored ${yes.custom.stripes.score}`);
    assert.equal(no.custom.stripes.label, false, `blob image scored ${no.custom.stripes.score}`);
    assert.ok(yes.base.aesthetic.score >= 0 && yes.base.aesthetic.score <= 1);
    assert.ok('sharpness' in yes.base.aesthetic.components && 'resolution' in yes.base.stock.components);
    assert.deepEqual(Object.keys(yes.base.nsfw), ['drawing', 'hentai', 'neutral', 'porn', 'sexy']);
    const tags = await engine.listTags();
    assert.equal(tags[0].trained && !tags[0].stale, true);
  });

  it('predicts from a saved features document as from the image, and refuses a wrong one', async () => {
    const [image] = await stripedImages(1, 60);
    const direct = await engine.predict(image);
    const doc = JSON.parse(JSON.stringify(await engine.getFeatures(image)));
    assert.equal(doc.features.length, 1792);
    const byFeatures = await engine.predictByFeatures(doc);
    assert.ok(Math.abs(byFeatures.custom.stripes.score - direct.custom.stripes.score) < 1e-6);
    assert.ok(Math.abs(byFeatures.base.nsfw.neutral - direct.base.nsfw.neutral) < 1e-4, 'nsfw head recomputed from the vector');
    await assert.rejects(engine.predictByFeatures({ ...doc, features: doc.features.slice(1) }), code('invalid_features'));
    await assert.rejects(engine.predictByFeatures({ ...doc, features: [...doc.features.slice(1), Number.NaN] }), code('invalid_features'));
    await assert.rejects(engine.predictByFeatures({ ...doc, backbone: 'clip-vit-b32' }), code('invalid_features'));
    await assert.rejects(engine.predictByFeatures('junk'), code('invalid_features'));
  });

  it('backs up, cleans everything, restores, and predicts identically', async () => {
    const [probe] = await stripedImages(1, 70);
    const before = await engine.predict(probe);
    const archive = await collect(await engine.getState());
    await engine.clean('stripes');
    assert.deepEqual(await engine.listTags(), []);
    await assert.rejects(engine.predictCustom(probe, 'stripes'), code('unknown_tag'));
    const restored = await engine.setState(Readable.from([archive]));
    assert.deepEqual(restored, { tags: 1, samples: 16 });
    const after = await engine.predict(probe);
    assert.deepEqual(after.custom, before.custom);
    assert.equal((await engine.listSamples('stripes')).positives.length, 8);
  });

  it('moves and removes samples, and marks the model stale', async () => {
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
    const task = await engine.train('stripes');
    await new Promise<void>((resolve) => {
      const off = engine.onTaskChange((t) => t.task_id === task.task_id && t.state === 'running' && (off(), resolve()));
    });
    // What a crash leaves on disk: the state folder as it is while the task runs.
    const crashed = `${stateDir}-crashed`;
    await fs.cp(stateDir, crashed, { recursive: true });
    const reopened = (await openTestEngine(crashed)).engine;
    try {
      const status = reopened.status(task.task_id);
      assert.equal(status.state, 'failed');
      assert.equal(status.error?.code, 'interrupted');
      assert.ok(reopened.listTasks('stripes').some((t) => t.state === 'done'), 'the earlier finished run is still in the history');
      assert.equal((await reopened.listTags())[0].trained, true, 'the previous model still serves');
    } finally {
      await reopened.close();
      await fs.rm(crashed, { recursive: true, force: true });
    }
  });
});

describe('re-embedding stored images, a few at a time', () => {
  it('never runs more than the limit at once and keeps the results in order', async () => {
    let running = 0;
    let most = 0;
    const limit = concurrencyLimit(2);
    const results = await Promise.all(Array.from({ length: 25 }, (_, n) => limit(async () => {
      most = Math.max(most, ++running);
      await new Promise((resolve) => setTimeout(resolve, n % 3));
      running--;
      return n * n;
    })));
    assert.equal(most, 2);
    assert.deepEqual(results, Array.from({ length: 25 }, (_, i) => i * i));
  });
});

describe('a training task still loading its samples (embedding them again after a switch of backbone)', () => {
  /** A host whose loading reports progress 100 times, 5 ms apart, and counts how far it got. */
  function slowLoadingHost(): TrainingHost & { steps: number } {
    const host = {
      steps: 0,
      loadTrainingData: async (_tag: string, _options: unknown, onProgress: (stage: string, progress: number) => void) => {
        for (; host.steps < 100; host.steps++) {
          await new Promise((resolve) => setTimeout(resolve, 5));
          onProgress('embedding samples for test', host.steps / 100);
        }
        throw new Error('loading should have been stopped');
      },
      saveModel: async () => {},
      saveTask: async () => {},
    };
    return host;
  }
  const untilStage = async (queue: TrainingQueue, id: string) => {
    while (!queue.status(id).stage?.startsWith('embedding')) await new Promise((resolve) => setTimeout(resolve, 2));
  };

  it('is cancelled at once, not after every sample is embedded', async () => {
    const host = slowLoadingHost();
    const queue = new TrainingQueue(host);
    const { task_id } = await queue.enqueue('tag', { num_clusters: 1, apply_aesthetic_score: false, apply_stock_score: false });
    await untilStage(queue, task_id);
    await queue.cancel(task_id);
    await queue.whenIdle();
    const task = queue.status(task_id);
    assert.deepEqual([task.state, task.error?.code], ['failed', 'cancelled']);
    assert.ok(host.steps < 10, `the loading went on for ${host.steps} of 100 steps`);
  });

  it('stops with the engine, the task reading interrupted', async () => {
    const host = slowLoadingHost();
    const queue = new TrainingQueue(host);
    const { task_id } = await queue.enqueue('tag', { num_clusters: 1, apply_aesthetic_score: false, apply_stock_score: false });
    await untilStage(queue, task_id);
    await queue.stop();
    const task = queue.status(task_id);
    assert.deepEqual([task.state, task.error?.code], ['failed', 'interrupted']);
    assert.ok(host.steps < 10, `the loading went on for ${host.steps} of 100 steps`);
  });
});
