// The keywords base model: COCO objects with their confidence and count. Decoding and
// suppression are checked on made-up detector rows (always); the real detector on a real photo
// when it is installed (`npm run models:keywords`; skipped with that message otherwise); and an
// engine without it answers without keywords and says how to get them.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { findModelsDir } from '../../kernel/features/models-dir';
import { decodeKeywords, keywordVector } from '../../kernel/scores/keywords';
import { keywordsInWords } from '../../kernel/scores/keywords-text';
import { enginesPerTest, tempDir } from '../helpers/engine';
import { needsKeywordsModel, peopleWithDogs, PERSON_DOG_HORSE } from '../helpers/keyword-photos';
import { startTestServer } from '../helpers/server';

const LABELS = ['person', 'bicycle', 'car', 'dog', 'horse', 'cow'];
const DECODING = { minScore: 0.3, sameClassIou: 0.5, crossClassIou: 0.7 };
const WHOLE = { size: 512, left: 0, top: 0, contentWidth: 512, contentHeight: 512 };
const PHOTO = PERSON_DOG_HORSE;
const needsModel = needsKeywordsModel;

/** Detector rows: x1, y1, x2, y2, score, class. */
function rows(...detections: [number, number, number, number, number, string][]): Float32Array {
  return Float32Array.from(detections.flatMap(([x1, y1, x2, y2, score, label]) => [x1, y1, x2, y2, score, LABELS.indexOf(label)]));
}

describe('keywords from detector rows', () => {
  it('counts the instances of each class, keeps the best confidence, and drops what is below the threshold', () => {
    const keywords = decodeKeywords(
      rows(
        [10, 10, 100, 200, 0.8, 'person'],
        [200, 10, 300, 200, 0.6, 'person'],
        [400, 10, 500, 200, 0.5, 'person'],
        [100, 300, 200, 400, 0.45, 'dog'],
        [300, 300, 400, 400, 0.29, 'bicycle'],
      ),
      LABELS,
      DECODING,
      WHOLE,
    );
    assert.deepEqual(Object.keys(keywords), ['person', 'dog']);
    assert.equal(keywords.person.count, 3);
    assert.ok(Math.abs(keywords.person.score - 0.8) < 1e-6);
    assert.equal(keywords.dog.count, 1);
    assert.equal(keywordsInWords(keywords), 'person ×3, dog');
  });

  it('one object found twice in one class is counted once, and named twice across classes keeps the surer name', () => {
    const keywords = decodeKeywords(
      rows(
        [100, 100, 300, 300, 0.7, 'horse'],
        [105, 102, 305, 298, 0.6, 'horse'], // the same horse twice
        [100, 100, 300, 300, 0.5, 'cow'], // the same box, a weaker name
        [50, 150, 150, 300, 0.4, 'dog'], // a dog beside it, overlapping a little: kept
      ),
      LABELS,
      DECODING,
      WHOLE,
    );
    assert.deepEqual(Object.fromEntries(Object.entries(keywords).map(([k, v]) => [k, v.count])), { horse: 1, dog: 1 });
  });

  it('boxes are fractions of the image, where it sat in the letterboxed square', () => {
    // A 2:1 image letterboxed into 512²: 512×256, 128 pixels of padding above and below.
    const keywords = decodeKeywords(rows([0, 128, 256, 384, 0.9, 'car']), LABELS, DECODING, {
      size: 512,
      left: 0,
      top: 128,
      contentWidth: 512,
      contentHeight: 256,
    });
    assert.deepEqual(keywords.car.boxes, [[0, 0, 0.5, 1]]);
  });

  it("the training vector holds each class's best confidence, thresholded or not", () => {
    const vector = keywordVector(rows([0, 0, 1, 1, 0.2, 'dog'], [0, 0, 1, 1, 0.1, 'dog'], [0, 0, 1, 1, 0.05, 'person']), LABELS.length);
    assert.deepEqual(
      Array.from(vector, (v) => Math.round(v * 100) / 100),
      [0.05, 0, 0, 0.2, 0, 0],
    );
  });
});

describe('the keywords model on a real photo', () => {
  const ownEngine = enginesPerTest();

  it('/predict with keywords names the people and the dogs, with counts, from the real detector', needsModel, async () => {
    const { engine } = await ownEngine();
    assert.equal(engine.keywordsStatus.installed, true);
    const prediction = await engine.predict(await peopleWithDogs(), { keywords: true });
    const keywords = prediction.base.keywords;
    assert.ok(keywords, 'keywords are answered');
    assert.equal(keywords.person?.count, 2, `people: ${keywordsInWords(keywords)}`);
    assert.equal(keywords.dog?.count, 2, `dogs: ${keywordsInWords(keywords)}`);
    assert.ok(keywords.person.score > 0.6 && keywords.dog.score > 0.4, keywordsInWords(keywords));
    // Each box is inside the image, and the people stand one above the other.
    const tops = keywords.person.boxes.map((b) => b[1]).sort();
    assert.ok(tops[0] < 0.5 && tops[1] > 0.5, JSON.stringify(keywords.person.boxes));
    for (const box of Object.values(keywords).flatMap((k) => k.boxes))
      assert.ok(box.every((v) => v >= 0 && v <= 1) && box[0] + box[2] <= 1.0001 && box[1] + box[3] <= 1.0001);
  });

  it('/predict without asking has no keywords, and asking twice detects once', needsModel, async () => {
    const { engine } = await ownEngine();
    const photo = await fs.readFile(PHOTO);
    assert.equal((await engine.predict(photo)).base.keywords, undefined);
    const first = await engine.predict(photo, { keywords: true });
    assert.ok(first.base.keywords?.person && first.base.keywords.dog, keywordsInWords(first.base.keywords));
    assert.deepEqual((await engine.predict(photo, { keywords: true })).base.keywords, first.base.keywords);
  });
});

describe('an engine without the keywords model', () => {
  const ownEngine = enginesPerTest();

  it('answers without keywords and says in its status how to install them', async () => {
    // A models folder with the backbone only, as `npm ci` leaves it.
    const modelsDir = await tempDir('tagsmith-models-');
    const source = findModelsDir();
    for (const file of await fs.readdir(source)) {
      if (file === 'models.json' || file.startsWith('mobilenet_v2_140')) await fs.symlink(path.join(source, file), path.join(modelsDir, file));
    }
    try {
      const { engine } = await ownEngine({ modelsDir });
      assert.deepEqual(engine.keywordsStatus, {
        installed: false,
        model: 'centernet_mbv3_coco512',
        install: 'npm run models:keywords',
        reason: 'centernet_coco512.onnx is not installed',
      });
      const prediction = await engine.predict(await fs.readFile(PHOTO), { keywords: true });
      assert.equal(prediction.base.keywords, undefined);
      assert.ok(prediction.base.aesthetic.score > 0);
      await assert.rejects(engine.train('x', { apply_keywords: true }), /npm run models:keywords/);
    } finally {
      await fs.rm(modelsDir, { recursive: true, force: true });
    }
  });
});

describe('a scan with keywords', () => {
  it('exports a keywords column in CSV and a field in JSON Lines, and puts them in XMP sidecars when asked', { ...needsModel, timeout: 120_000 }, async () => {
    const photos = await tempDir('tagsmith-photos-');
    const server = await startTestServer({}, undefined, { scanRoots: [photos] });
    try {
      await fs.writeFile(path.join(photos, 'family.jpg'), await peopleWithDogs());
      await sharp({ create: { width: 64, height: 64, channels: 3, background: '#808080' } })
        .png()
        .toFile(path.join(photos, 'grey.png'));
      const client = server.client;
      const done = await client.scan([photos], { keywords: true });
      assert.equal(done.keywords, true);
      const csv = (await client.exportScan(done.scan_id, 'csv')).trim().split('\r\n');
      assert.equal(csv[0].split(',').at(-1), 'keywords');
      const family = csv.find((line) => line.includes('family.jpg'))!;
      assert.match(family, /,"?person ×2; dog ×2[^,]*"?$/);
      assert.ok(csv.find((line) => line.includes('grey.png'))!.endsWith(','), 'a plain grey picture has no keywords');
      const jsonl = (await client.exportScan(done.scan_id, 'jsonl'))
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { path: string; keywords?: Record<string, { score: number; count: number }> });
      const record = jsonl.find((r) => r.path.endsWith('family.jpg'))!;
      assert.equal(record.keywords?.person.count, 2);
      assert.equal(record.keywords?.dog.count, 2);
      // Without asking, sidecars carry tags only (there are none trained): nothing to write.
      assert.deepEqual((await client.scanSidecars(done.scan_id, { action: 'preview' })).changes, []);
      const preview = await client.scanSidecars(done.scan_id, { action: 'preview', includeKeywords: true });
      assert.deepEqual(
        preview.changes.map((c) => [path.basename(c.image), c.add.slice(0, 2)]),
        [['family.jpg', ['person', 'dog']]],
      );
    } finally {
      await server.close();
      await fs.rm(photos, { recursive: true, force: true });
    }
  });
});

describe('a tag trained with apply_keywords', () => {
  it(
    "reads the detector's confidences: a scan finds them for it unasked, and scores each image as /predict does, also after a retrain",
    { ...needsModel, timeout: 180_000 },
    async () => {
      const photos = await tempDir('tagsmith-photos-');
      const server = await startTestServer({}, undefined, { scanRoots: [photos] });
      try {
        const client = server.client;
        const family = await peopleWithDogs();
        for (const image of [await fs.readFile(PHOTO), await sharp(PHOTO).flop().toBuffer(), family]) await client.addSample('positive', 'field', image);
        for (const colour of ['#808080', '#6a8caf', '#a0522d'])
          await client.addSample(
            'negative',
            'field',
            await sharp({ create: { width: 96, height: 64, channels: 3, background: colour } })
              .jpeg()
              .toBuffer(),
          );
        const trained = await client.train('field', { apply_keywords: true });
        assert.equal(trained.state, 'done', JSON.stringify(trained.error));
        assert.equal((await client.tags()).find((t) => t.tag === 'field')?.options?.apply_keywords, true);

        await fs.writeFile(path.join(photos, 'family.jpg'), family);
        await sharp({ create: { width: 64, height: 64, channels: 3, background: '#808080' } })
          .png()
          .toFile(path.join(photos, 'grey.png'));
        const scan = await client.scan([photos]); // not asked for keywords: the tag needs them
        assert.equal(scan.state, 'done');
        const scoresNow = async () => {
          const page = await client.scanResults(scan.scan_id, { tag: 'field' });
          return Object.fromEntries(page.images.map((i) => [path.basename(i.path), i.tags.field.score]));
        };
        const predicted = async () => ({
          'family.jpg': (await client.predictCustom(family, 'field')).field.score,
          'grey.png': (await client.predictCustom(await fs.readFile(path.join(photos, 'grey.png')), 'field')).field.score,
        });
        const close = (a: Record<string, number>, b: Record<string, number>) => Object.keys(b).every((k) => Math.abs(a[k] - b[k]) < 1e-5);
        const before = await predicted();
        assert.ok(before['family.jpg'] > before['grey.png'], JSON.stringify(before));
        assert.ok(close(await scoresNow(), before), `scan ${JSON.stringify(await scoresNow())} against predict ${JSON.stringify(before)}`);

        // Retrained with two clusters: the scan is re-scored from its stored features and keyword confidences.
        assert.equal((await client.train('field', { apply_keywords: true, num_clusters: 2 })).state, 'done');
        const after = await predicted();
        assert.ok(close(await scoresNow(), after), `re-scored ${JSON.stringify(await scoresNow())} against predict ${JSON.stringify(after)}`);
      } finally {
        await server.close();
        await fs.rm(photos, { recursive: true, force: true });
      }
    },
  );
});
