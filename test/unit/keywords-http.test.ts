// The keywords base model as HTTP clients and notebooks meet it: /predict?keywords=true over a
// real socket, /health saying it is installed, a wrong flag refused through the error contract,
// and the notebook API (predict, scan, showPredictions) carrying the objects found. The real
// detector runs on a real photo; without the model these tests skip, naming its install command.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { Tagsmith, type Keywords } from '../../kernel/notebook/tagsmith';
import { keywordsInWords } from '../../kernel/scores/keywords-text';
import { tempDir } from '../helpers/engine';
import { needsKeywordsModel, peopleWithDogs } from '../helpers/keyword-photos';
import { startTestServer, type TestServer } from '../helpers/server';

describe('keywords over HTTP and in the notebook API', { ...needsKeywordsModel, timeout: 180_000 }, () => {
  let server: TestServer;
  let folder: string;
  let family: Buffer;
  before(async () => {
    folder = await tempDir('tagsmith-keywords-');
    family = await peopleWithDogs();
    await fs.writeFile(path.join(folder, 'family.jpg'), family);
    await sharp({ create: { width: 96, height: 64, channels: 3, background: '#6a8caf' } }).jpeg().toFile(path.join(folder, 'sky.jpg'));
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
    const body = await response.json() as { base: Record<string, unknown> & { keywords: Keywords } };
    assert.deepEqual(Object.keys(body.base).sort(), ['aesthetic', 'keywords', 'nsfw', 'stock']);
    const { person, dog } = body.base.keywords;
    assert.equal(person?.count, 2, keywordsInWords(body.base.keywords));
    assert.equal(dog?.count, 2, keywordsInWords(body.base.keywords));
    assert.equal(person.boxes.length, 2);
    assert.match(keywordsInWords(body.base.keywords), /person ×2.*dog ×2|dog ×2.*person ×2/);
  });

  it('POST /predict without the flag (or with keywords=0) answers no keywords', async () => {
    for (const query of ['', '?keywords=0']) {
      const body = await (await post(query, family)).json() as { base: Record<string, unknown> };
      assert.equal('keywords' in body.base, false, query);
    }
  });

  it('a flag that is not a boolean is refused with a 400 that names it', async () => {
    const response = await post('?keywords=maybe', family);
    assert.equal(response.status, 400);
    const body = await response.json() as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'invalid_option');
    assert.match(body.error.message, /keywords/);
  });

  it('the notebook\'s predict returns keywords when asked, and showPredictions lists them', async () => {
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

  it('the notebook\'s scan with keywords shows each image\'s objects from the scan, without detecting again', async () => {
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
});
