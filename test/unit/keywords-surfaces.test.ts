// The keywords base model where users meet it: /predict?keywords=true over a real socket, /health
// saying it is installed, a wrong flag refused through the error contract, the notebook API
// (predict, scan, showPredictions) carrying the objects found, and the explorer badges' tooltip
// of a scan made with keywords. The real detector runs on a real photo; without the model these
// tests skip, naming its install command.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { ScannedImages } from '../../extension/engine/scanned-images';
import { imageDecorations } from '../../extension/logic/scan-badges';
import { Tagsmith, type Keywords } from '../../kernel/notebook/tagsmith';
import { keywordsInWords } from '../../kernel/scores/keywords-text';
import { blobImages, tempDir } from '../helpers/engine';
import { needsKeywordsModel, peopleWithDogs, PERSON_DOG_HORSE } from '../helpers/keyword-photos';
import { startTestServer, type TestServer } from '../helpers/server';

describe("keywords over HTTP, in the notebook API and in the explorer's badges", { ...needsKeywordsModel, timeout: 180_000 }, () => {
  let server: TestServer;
  let folder: string;
  let family: Buffer;
  before(async () => {
    folder = await tempDir('tagsmith-keywords-');
    family = await peopleWithDogs();
    await fs.writeFile(path.join(folder, 'family.jpg'), family);
    await sharp({ create: { width: 96, height: 64, channels: 3, background: '#6a8caf' } })
      .jpeg()
      .toFile(path.join(folder, 'sky.jpg'));
    server = await startTestServer({}, undefined, { scanRoots: [folder] });
  });
  after(async () => {
    await server?.close();
    await fs.rm(folder, { recursive: true, force: true });
  });

  const post = (query: string, image: Buffer) => {
    const form = new FormData();
    form.append('data', new Blob([image], { type: 'image/jpeg' }), 'family.jpg');
    return fetch(`${server.url}/predict${query}`, { method: 'POST', body: form });
  };

  it('/health says the keywords model is installed, and which', async () => {
    const health = await server.client.health();
    assert.deepEqual(health.keywords, { installed: true, model: 'centernet_mbv3_coco512' });
  });

  it('POST /predict?keywords=true names the people and the dogs with counts, beside nsfw, aesthetic and stock', async () => {
    const response = await post('?keywords=true', family);
    assert.equal(response.status, 200);
    const body = (await response.json()) as { base: Record<string, unknown> & { keywords: Keywords } };
    assert.deepEqual(Object.keys(body.base).sort(), ['aesthetic', 'keywords', 'nsfw', 'stock']);
    const { person, dog } = body.base.keywords;
    assert.equal(person?.count, 2, keywordsInWords(body.base.keywords));
    assert.equal(dog?.count, 2, keywordsInWords(body.base.keywords));
    assert.equal(person.boxes.length, 2);
    assert.match(keywordsInWords(body.base.keywords), /person ×2.*dog ×2|dog ×2.*person ×2/);
  });

  it('POST /predict without the flag (or with keywords=0) answers no keywords', async () => {
    for (const query of ['', '?keywords=0']) {
      const body = (await (await post(query, family)).json()) as { base: Record<string, unknown> };
      assert.equal('keywords' in body.base, false, query);
    }
  });

  it('a flag that is not a boolean is refused with a 400 that names it', async () => {
    const response = await post('?keywords=maybe', family);
    assert.equal(response.status, 400);
    const body = (await response.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'invalid_option');
    assert.match(body.error.message, /keywords/);
  });

  it("the notebook's predict returns keywords when asked, and showPredictions lists them", async () => {
    const tagsmith = await Tagsmith.connect({ url: server.url, baseDir: folder });
    const prediction = await tagsmith.predict('family.jpg', { keywords: true });
    assert.equal(prediction.base.keywords?.person?.count, 2);
    assert.equal((await tagsmith.predict('family.jpg')).base.keywords, undefined);
    const shown = await tagsmith.showPredictions(['family.jpg', 'sky.jpg']);
    assert.equal(shown?.mime, 'text/html');
    const rows = shown!.content.split('<tr>').slice(2); // the header row, then one per image
    assert.match(rows[0], /family\.jpg[\s\S]*keywords: person ×2, dog ×2/);
    assert.match(rows[1], /sky\.jpg[\s\S]*keywords: –/, 'a plain sky: the detector looked and found nothing');
    const without = await tagsmith.showPredictions('family.jpg', { keywords: false });
    assert.doesNotMatch(without!.content, /keywords:/);
  });

  it("the notebook's scan with keywords shows each image's objects from the scan's results", async () => {
    const tagsmith = await Tagsmith.connect({ url: server.url, baseDir: folder });
    const scan = await tagsmith.scan('.', { keywords: true });
    assert.equal(scan.state, 'done');
    assert.equal(scan.keywords, true);
    const page = await tagsmith.scanResults(scan);
    const familyRow = page.images.find((i) => i.path.endsWith('family.jpg'));
    assert.equal(familyRow?.keywords?.dog?.count, 2);
    const shown = await tagsmith.showPredictions(scan);
    assert.match(shown!.content, /family\.jpg[\s\S]*keywords: person ×2, dog ×2/);
    // A scan made without keywords has none to show.
    const plain = await tagsmith.scan('.');
    assert.equal(plain.keywords ?? false, false);
    assert.doesNotMatch((await tagsmith.showPredictions(plain))!.content, /keywords:/);
  });

  it('the explorer badge of an image a tag applies to names its objects in the tooltip, from a scan with keywords', async () => {
    const client = server.client;
    for (const image of [await fs.readFile(PERSON_DOG_HORSE), await sharp(PERSON_DOG_HORSE).flop().toBuffer(), family])
      await client.addSample('positive', 'field', image);
    for (const image of await blobImages(3)) await client.addSample('negative', 'field', image);
    assert.equal((await client.train('field')).state, 'done');
    const scanned = new ScannedImages(
      async () => client,
      () => [folder],
    );
    try {
      await client.scan([folder], { keywords: true });
      await scanned.refresh();
      const badges = imageDecorations(scanned.scans, new Set(['field']));
      const badge = [...badges.values()].find((d) => d.path.endsWith('family.jpg'));
      assert.ok(badge, 'the photo the tag was trained on gets a badge');
      assert.match(badge.tooltip, /^Tagsmith: field [01]\.\d\d \(threshold [01]\.\d\d\) · objects: person ×2, dog ×2/);
    } finally {
      scanned.dispose();
    }
  });
});
