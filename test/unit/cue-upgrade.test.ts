// A state saved before the cue image changed (its embeddings at format version 1) opens, or
// restores, with its base scores measured the way new images are, and the tags trained with
// them standardise them as training would: what a user upgrading notices is that nothing
// changes except that scores agree again.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import * as tar from 'tar';
import { upgradeStoredCues } from '../../kernel/engine/cue-upgrade';
import type { TagsmithEngine } from '../../kernel/engine/tagsmith-engine';
import { readArchiveModels } from '../../kernel/state/archive-file';
import type { EmbeddingRecord, TagModelJson } from '../../kernel/state/record-schemas';
import { blobImages, enginesPerTest, openTestEngine, stateArchive, stripedImages, tempDir, waitForTask } from '../helpers/engine';

const OPTIONS = { num_clusters: 1, apply_aesthetic_score: true, apply_stock_score: true };
/** How far the old measure is taken to be from the new one here (the real difference: −0.021 to +0.021 for 90% of photos). */
const OLD_SHIFT = -0.03;

interface Snapshot {
  records: Map<string, EmbeddingRecord>;
  model: TagModelJson;
}

async function generationOf(stateDir: string): Promise<string> {
  const { generation } = JSON.parse(await fs.readFile(path.join(stateDir, 'CURRENT'), 'utf8')) as { generation: string };
  return path.join(stateDir, generation);
}

async function snapshot(generation: string): Promise<Snapshot> {
  const records = new Map<string, EmbeddingRecord>();
  for (const backbone of await fs.readdir(path.join(generation, 'features'))) {
    for (const name of await fs.readdir(path.join(generation, 'features', backbone))) {
      records.set(`${backbone}/${name}`, JSON.parse(await fs.readFile(path.join(generation, 'features', backbone, name), 'utf8')));
    }
  }
  const model = JSON.parse(await fs.readFile(path.join(generation, 'tags', 'stripes', 'model.json'), 'utf8')) as TagModelJson;
  return { records, model };
}

/** Rewrites a generation folder as a version before 2026-11-28 would have left it: old-format records, old scores, standardisers over them. */
async function downgrade(generation: string): Promise<void> {
  const { records, model } = await snapshot(generation);
  for (const [key, record] of records) {
    const old = {
      ...record,
      formatVersion: 1,
      aesthetic: { ...record.aesthetic, score: record.aesthetic.score + OLD_SHIFT },
      stock: { ...record.stock, score: record.stock.score + 0.4 * OLD_SHIFT },
    };
    await fs.writeFile(path.join(generation, 'features', key), JSON.stringify(old));
  }
  const extras = model.extras.map((e) => ({ ...e, mean: e.name === 'aesthetic' ? e.mean + OLD_SHIFT : e.mean + 0.4 * OLD_SHIFT }));
  await fs.writeFile(path.join(generation, 'tags', 'stripes', 'model.json'), JSON.stringify({ ...model, extras }));
}

function assertUpgraded(found: Snapshot, trained: Snapshot): void {
  assert.equal(found.records.size, trained.records.size);
  for (const [key, record] of trained.records) {
    const now = found.records.get(key)!;
    assert.equal(now.formatVersion, 2, `${key} is at the current format`);
    assert.deepEqual(now.aesthetic, record.aesthetic, `${key}: the aesthetic score measured again is what a new embedding measures`);
    assert.deepEqual(now.stock, record.stock, `${key}: the stock score follows it`);
    assert.equal(now.features, record.features, `${key}: the features are untouched`);
  }
  for (const [i, extra] of trained.model.extras.entries()) {
    assert.equal(found.model.extras[i].name, extra.name);
    assert.ok(Math.abs(found.model.extras[i].mean - extra.mean) < 1e-12, `${extra.name}: mean ${found.model.extras[i].mean} is training's ${extra.mean}`);
    assert.ok(Math.abs(found.model.extras[i].std - extra.std) < 1e-12, `${extra.name}: std ${found.model.extras[i].std} is training's ${extra.std}`);
  }
  assert.deepEqual(found.model.clusters, trained.model.clusters, 'the weights stay');
}

async function tagScore(engine: TagsmithEngine, image: Buffer): Promise<number> {
  const prediction = await engine.predict(image);
  return prediction.custom.stripes.score;
}

describe('base scores stored before the cue image changed', () => {
  const ownEngine = enginesPerTest();

  it('are measured again when the engine opens the state or restores an archive of it, and the tags trained on them follow', async () => {
    const { engine, stateDir } = await openTestEngine();
    for (const image of await stripedImages(6)) await engine.addSample('positive', 'stripes', image);
    for (const image of await blobImages(6)) await engine.addSample('negative', 'stripes', image);
    const task = await engine.train('stripes', OPTIONS);
    assert.equal((await waitForTask(engine, task.task_id)).state, 'done');
    const [probe] = await stripedImages(1, 40);
    const score = await tagScore(engine, probe);
    const archive = await stateArchive(engine);
    await engine.close();
    const trained = await snapshot(await generationOf(stateDir));

    // Opening a state folder an older version wrote.
    await downgrade(await generationOf(stateDir));
    const opened = await openTestEngine(stateDir);
    try {
      assertUpgraded(await snapshot(await generationOf(stateDir)), trained);
      assert.ok(Math.abs((await tagScore(opened.engine, probe)) - score) < 1e-9, 'the tag scores a new image as before');
    } finally {
      await opened.engine.close();
    }

    // Restoring an archive an older version made.
    const unpacked = await tempDir('tagsmith-old-archive-');
    await pipeline(Readable.from([archive]), tar.x({ cwd: unpacked }));
    await downgrade(unpacked);
    const chunks: Buffer[] = [];
    for await (const chunk of tar.c({ cwd: unpacked, portable: true }, await fs.readdir(unpacked))) chunks.push(chunk as Buffer);
    const fresh = await ownEngine();
    await fresh.engine.setState(Readable.from([Buffer.concat(chunks)]));
    assertUpgraded(await snapshot(await generationOf(fresh.stateDir)), trained);
    assert.ok(Math.abs((await tagScore(fresh.engine, probe)) - score) < 1e-9, 'the restored tag scores a new image as before');
    // Scan workers and coordinators read an old archive through their own unpacked copy, brought up to date there.
    const file = path.join(unpacked, '..', `${path.basename(unpacked)}.tar`);
    await fs.writeFile(file, Buffer.concat(chunks));
    const running = { backbone: trained.model.backbone, featureLength: trained.model.featureLength };
    const read = await readArchiveModels(file, running, { upgrade: upgradeStoredCues });
    assert.deepEqual(read.models[0].extras, (await snapshot(await generationOf(fresh.stateDir))).model.extras, 'a worker standardises as the engine does');
    const asIs = await readArchiveModels(file, running);
    assert.notDeepEqual(asIs.models[0].extras, read.models[0].extras, 'the archive itself still holds the old standardisers');
    // So does a read-only replica serving it.
    const replica = await openTestEngine(path.join(unpacked, 'unused'), { readOnly: true, stateArchive: file });
    try {
      assert.ok(Math.abs((await tagScore(replica.engine, probe)) - score) < 1e-9, 'the replica scores a new image as before');
    } finally {
      await replica.engine.close();
    }
    await fs.rm(file, { force: true });
    await fs.rm(unpacked, { recursive: true, force: true });

    // A sample image this version cannot decode any more does not stop the engine: its record keeps the old scores.
    const generation = await generationOf(stateDir);
    await downgrade(generation);
    const [unreadable] = [...trained.records.keys()];
    await fs.writeFile(path.join(generation, 'images', path.basename(unreadable, '.json')), 'no longer an image');
    const reopened = await openTestEngine(stateDir);
    await reopened.engine.close();
    const after = await snapshot(generation);
    for (const [key, record] of after.records) assert.equal(record.formatVersion, key === unreadable ? 1 : 2, key);
    await fs.rm(stateDir, { recursive: true, force: true });
  });
});
