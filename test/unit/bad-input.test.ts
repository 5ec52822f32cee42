// Issue 9's bad-input list against the HTTP API: each case gets its JSON error code (or is
// accepted, for odd but real images) and leaves the state exactly as it was.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { checkPrediction, checkTagScores } from '../../kernel/engine/score-check';
import { TagsmithError } from '../../kernel/errors';
import { blobImages, stripedImages, tempDir } from '../helpers/engine';
import { blobs, pngHeaderOnly } from '../helpers/images';
import { multipartBody, rawRequest, startTestServer, type TestServer } from '../helpers/server';

interface Case {
  name: string;
  method?: string;
  path: string;
  body?: Buffer;
  field?: string;
  contentType?: string;
  /** An error code, or the status of an accepted request. */
  expect: string | number;
}

/** A PNG whose IDAT checksum is wrong. */
async function pngWithBadCrc(): Promise<Buffer> {
  const png = Buffer.from(await blobs(32, 32, 1).png().toBuffer());
  const idat = png.indexOf('IDAT');
  const length = png.readUInt32BE(idat - 4);
  png.writeUInt32BE(png.readUInt32BE(idat + 4 + length) ^ 0xffffffff, idat + 4 + length);
  return png;
}

/** An ISO-BMFF file that says it is HEIC (HEVC), which this build cannot decode. */
function fakeHeic(): Buffer {
  const ftyp = Buffer.concat([Buffer.from([0, 0, 0, 24]), Buffer.from('ftypheic'), Buffer.from([0, 0, 0, 0]), Buffer.from('mif1heic')]);
  return Buffer.concat([ftyp, Buffer.alloc(200, 7)]);
}

describe('bad input leaves the state as it was', () => {
  let server: TestServer;
  let cases: Case[];
  before(async () => {
    server = await startTestServer({ maxUploadBytes: 50 * 1024 * 1024 });
    for (const image of await stripedImages(3)) await server.client.addSample('positive', 'stripes', image);
    for (const image of await blobImages(3)) await server.client.addSample('negative', 'stripes', image);
    await server.client.train('stripes');
    const jpeg = await blobs(300, 200, 3).jpeg().toBuffer();
    const doc = await server.client.getFeatures(jpeg);
    const features = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
    const base = blobs(64, 48, 8);
    cases = [
      { name: 'empty body', method: 'POST', path: '/add/positive/stripes', expect: 'missing_field' },
      { name: 'wrong field name', method: 'POST', path: '/add/positive/stripes', field: 'image', body: jpeg, expect: 'missing_field' },
      { name: 'text file named .jpg', method: 'POST', path: '/add/positive/stripes', body: Buffer.from('just some text\n'), expect: 'not_an_image' },
      { name: 'truncated JPEG', method: 'POST', path: '/add/positive/stripes', body: jpeg.subarray(0, jpeg.length / 2), expect: 'not_an_image' },
      { name: 'PNG with a corrupt CRC', method: 'POST', path: '/add/positive/stripes', body: await pngWithBadCrc(), expect: 'not_an_image' },
      { name: '30000×30000 PNG header', method: 'POST', path: '/add/positive/stripes', body: pngHeaderOnly(30000, 30000), expect: 'image_too_large' },
      {
        name: 'SVG with an external reference',
        method: 'POST',
        path: '/add/positive/stripes',
        body: Buffer.from(
          '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="9" height="9"><image xlink:href="http://example.com/x.png" width="9" height="9"/></svg>',
        ),
        expect: 'not_an_image',
      },
      { name: 'HEIC', method: 'POST', path: '/add/positive/stripes', body: fakeHeic(), expect: 'not_an_image' },
      {
        name: '1×1 image (a real image: scored)',
        method: 'POST',
        path: '/predict',
        body: await sharp({ create: { width: 1, height: 1, channels: 3, background: '#808080' } })
          .png()
          .toBuffer(),
        expect: 200,
      },
      {
        name: 'animated GIF (first frame scored)',
        method: 'POST',
        path: '/predict',
        body: await sharp(Buffer.concat([await base.clone().raw().toBuffer(), await blobs(64, 48, 9).raw().toBuffer()]), {
          raw: { width: 64, height: 96, channels: 3, pageHeight: 48 },
        })
          .gif()
          .toBuffer(),
        expect: 200,
      },
      { name: '16-bit TIFF (scored)', method: 'POST', path: '/predict', body: await base.clone().toColourspace('rgb16').tiff().toBuffer(), expect: 200 },
      { name: 'CMYK JPEG (scored)', method: 'POST', path: '/predict', body: await base.clone().toColourspace('cmyk').jpeg().toBuffer(), expect: 200 },
      { name: 'AVIF (scored)', method: 'POST', path: '/predict', body: await base.clone().avif({ effort: 0 }).toBuffer(), expect: 200 },
      // A few hundred bytes that scaled like a photo would be 320×6,400,000 pixels (libvips crashed the process on it).
      { name: '1×20000 PNG strip (scored)', method: 'POST', path: '/predict', body: await blobs(1, 20000, 4).png().toBuffer(), expect: 200 },
      {
        name: '20000×2 JPEG strip stood upright by EXIF (scored)',
        method: 'POST',
        path: '/predict',
        body: await blobs(20000, 2, 5).jpeg().withMetadata({ orientation: 6 }).toBuffer(),
        expect: 200,
      },
      ...['..', 'a%2Fb', '%2e%2e', 'x'.repeat(65), '%F0%9F%99%82', 'nul%00byte', '.hidden'].map((tag) => ({
        name: `tag ${tag}`,
        method: 'POST',
        path: `/add/positive/${tag}`,
        body: jpeg,
        expect: 'invalid_tag',
      })),
      { name: 'empty tag', method: 'POST', path: '/add/positive/', body: jpeg, expect: 'invalid_tag' },
      { name: 'boolean maybe', path: '/train/stripes?apply_stock_score=maybe', expect: 'invalid_option' },
      ...['0', '-1', '1e9', 'abc'].map((k) => ({ name: `num_clusters ${k}`, path: `/train/stripes?num_clusters=${k}`, expect: 'invalid_option' })),
      { name: 'num_clusters larger than the positives', path: '/train/stripes?num_clusters=4', expect: 'not_enough_samples' },
      {
        name: 'features: 1791 values',
        method: 'POST',
        path: '/predict_by_features',
        body: features({ ...doc, features: doc.features.slice(1) }),
        expect: 'invalid_features',
      },
      {
        name: 'features: NaN',
        method: 'POST',
        path: '/predict_by_features',
        body: features(JSON.stringify(doc).replace(/"features":\[[^,]+/, '"features":[NaN')),
        expect: 'invalid_features',
      },
      {
        name: 'features: strings',
        method: 'POST',
        path: '/predict_by_features',
        body: features({ ...doc, features: doc.features.map(String) }),
        expect: 'invalid_features',
      },
      {
        name: 'features: nested junk',
        method: 'POST',
        path: '/predict_by_features',
        body: features({ features: [[1, 2], { a: 1 }], backbone: { x: 1 } }),
        expect: 'invalid_features',
      },
      // Issue 15, item 7: finite in JSON but not as float32, or base scores outside [0, 1].
      ...[1e39, -1e39, Number.MAX_VALUE].map((v) => ({
        name: `features: ${v}`,
        method: 'POST',
        path: '/predict_by_features',
        body: features({ ...doc, features: doc.features.map((x, i) => (i === 7 ? v : x)) }),
        expect: 'invalid_features',
      })),
      {
        name: 'features: 3e38 everywhere (the nsfw head overflows)',
        method: 'POST',
        path: '/predict_by_features',
        body: features({ ...doc, features: doc.features.map(() => 3e38) }),
        expect: 'invalid_features',
      },
      {
        name: 'features: aesthetic score 5',
        method: 'POST',
        path: '/predict_by_features',
        body: features({ ...doc, aesthetic: { ...doc.aesthetic, score: 5 } }),
        expect: 'invalid_features',
      },
      {
        name: 'features: stock score -0.1',
        method: 'POST',
        path: '/predict_by_features',
        body: features({ ...doc, stock: { ...doc.stock, score: -0.1 } }),
        expect: 'invalid_features',
      },
      {
        name: 'features: aesthetic score 1e39',
        method: 'POST',
        path: '/predict_by_features',
        body: features(JSON.stringify({ ...doc, aesthetic: { ...doc.aesthetic, score: 0.5 } }).replace('"score":0.5', '"score":1e39')),
        expect: 'invalid_features',
      },
      {
        name: 'features: a stock component of 7',
        method: 'POST',
        path: '/predict_by_features',
        body: features({ ...doc, stock: { ...doc.stock, components: { ...doc.stock.components, safety: 7 } } }),
        expect: 'invalid_features',
      },
      {
        name: 'features: aesthetic as a string',
        method: 'POST',
        path: '/predict_by_features',
        body: features({ ...doc, aesthetic: '0.5' }),
        expect: 'invalid_features',
      },
      { name: 'features: 50 MB', method: 'POST', path: '/predict_by_features', body: Buffer.alloc(51 * 1024 * 1024, 0x20), expect: 'payload_too_large' },
      { name: 'unknown task', path: '/status/3f9a', expect: 'unknown_task' },
      { name: 'unknown tag', method: 'POST', path: '/predict/custom/nope', body: jpeg, expect: 'unknown_tag' },
      { name: 'clean an unknown tag', path: '/clean/nope', expect: 'unknown_tag' },
    ];
  });
  after(() => server.close());

  it('reads and writes nothing outside the state folder for a path-like id on any route, and no stale cache', async () => {
    // Files a traversal from the state folder would reach: <state>/../<outside>/secret…
    const outside = await tempDir('tagsmith-outside-');
    const secret = Buffer.from('SECRET, outside the state folder');
    try {
      for (const name of ['secret', 'secret-256.webp', 'secret.json']) await fs.writeFile(path.join(outside, name), secret);
      const climb = `../../../${path.basename(outside)}/secret`;
      assert.equal(
        path.resolve(server.engine.stateDir, 'cache', 'thumbnails', `${climb}-256.webp`),
        path.join(outside, 'secret-256.webp'),
        'the id reaches the planted file',
      );
      // A thumbnail cached for a sample this state does not have (another state's, restored over).
      const stranger = 'a'.repeat(64);
      await fs.writeFile(path.join(server.engine.stateDir, 'cache', 'thumbnails', `${stranger}-256.webp`), secret);
      const { positives } = await server.client.samples('stripes');
      const routes: Case[] = [
        ...[climb, '..', `${climb}%00`, 'x'.repeat(200)].flatMap((raw) => {
          const id = encodeURIComponent(raw);
          return [
            { name: `thumbnail of ${raw}`, path: `/samples/${id}/thumbnail`, expect: 'unknown_sample' },
            { name: `image of ${raw}`, path: `/samples/${id}/image`, expect: 'unknown_sample' },
            { name: `remove ${raw}`, method: 'DELETE', path: `/tags/stripes/samples/${id}`, expect: 'unknown_sample' },
            { name: `move ${raw}`, method: 'POST', path: `/tags/stripes/samples/${id}/move?to=negative`, expect: 'unknown_sample' },
            { name: `status of ${raw}`, path: `/status/${id}`, expect: 'unknown_task' },
            { name: `cancel ${raw}`, method: 'POST', path: `/tasks/${id}/cancel`, expect: 'unknown_task' },
          ];
        }),
        { name: 'a cached thumbnail of a sample this state does not have', path: `/samples/${stranger}/thumbnail`, expect: 'unknown_sample' },
        { name: 'thumbnail size abc', path: `/samples/${positives[0].id}/thumbnail?size=abc`, expect: 'bad_request' },
        { name: 'thumbnail size 0 (the smallest is made)', path: `/samples/${positives[0].id}/thumbnail?size=0`, expect: 200 },
      ];
      const before = JSON.stringify({ tags: await server.client.tags(), samples: await server.client.samples('stripes') });
      const failures: string[] = [];
      for (const c of routes) {
        const reply = await rawRequest(server.port, { method: c.method ?? 'GET', path: c.path });
        const got = reply.status >= 400 ? reply.json?.error?.code : reply.status;
        if (got !== c.expect) failures.push(`${c.name}: expected ${c.expect}, got ${reply.status} ${JSON.stringify(reply.json).slice(0, 160)}`);
        if (JSON.stringify(reply.json).includes('SECRET')) failures.push(`${c.name}: served the file outside`);
      }
      assert.deepEqual(failures, []);
      assert.deepEqual((await fs.readdir(outside)).sort(), ['secret', 'secret-256.webp', 'secret.json'], 'nothing written outside');
      assert.equal(JSON.stringify({ tags: await server.client.tags(), samples: await server.client.samples('stripes') }), before, 'the state is unchanged');
    } finally {
      await fs.rm(outside, { recursive: true, force: true });
    }
  });

  it('answers each case with its code and changes nothing', async () => {
    const snapshot = async () =>
      JSON.stringify({ health: await server.client.health(), tags: await server.client.tags(), samples: await server.client.samples('stripes') });
    const before = await snapshot();
    const failures: string[] = [];
    for (const c of cases) {
      const multipart = c.body ? multipartBody(c.field ?? 'data', 'upload.jpg', c.body, c.contentType) : undefined;
      const reply = await rawRequest(server.port, { method: c.method ?? 'GET', path: c.path, headers: multipart?.headers, body: multipart?.body });
      const got = reply.status >= 400 ? reply.json?.error?.code : reply.status;
      if (got !== c.expect) failures.push(`${c.name}: expected ${c.expect}, got ${reply.status} ${JSON.stringify(reply.json).slice(0, 160)}`);
      if (reply.status >= 400 && typeof reply.json?.error?.message !== 'string') failures.push(`${c.name}: no error message`);
    }
    assert.deepEqual(failures, []);
    assert.equal(await snapshot(), before, 'the state is unchanged');
  });

  it('never answers a score outside [0, 1]: an extreme feature document is refused or scored within range', async () => {
    const [image] = await blobImages(1, 60);
    const doc = await server.client.getFeatures(image);
    const failures: string[] = [];
    for (const v of [3.4e38, 1e38, 1e30, -1e30, 1e-45, 0, -1]) {
      for (const pattern of ['all', 'alternate'] as const) {
        const extreme = { ...doc, features: doc.features.map((x, i) => (pattern === 'all' || i % 2 ? v : x)) };
        const reply = await rawRequest(server.port, {
          method: 'POST',
          path: '/predict_by_features',
          headers: { 'content-type': 'application/json' },
          body: Buffer.from(JSON.stringify(extreme)),
        });
        const name = `${pattern} ${v}`;
        if (reply.status === 400 && reply.json?.error?.code === 'invalid_features') continue;
        if (reply.status !== 200) {
          failures.push(`${name}: ${reply.status} ${JSON.stringify(reply.json).slice(0, 160)}`);
          continue;
        }
        const scores = [
          ...Object.values(reply.json.base.nsfw),
          reply.json.base.aesthetic.score,
          reply.json.base.stock.score,
          ...Object.values(reply.json.custom).map((t: any) => t.score),
        ];
        if (!scores.every((s) => typeof s === 'number' && s >= 0 && s <= 1)) failures.push(`${name}: ${JSON.stringify(scores)}`);
      }
    }
    assert.deepEqual(failures, []);
  });

  it('turns a score the engine got wrong into a 500 bug report, never an answer', () => {
    const isBug = (e: unknown) => e instanceof TagsmithError && e.code === 'internal' && /outside \[0, 1\].*bug/.test(e.message);
    const base = { nsfw: { porn: 0.1 }, aesthetic: { score: 0.5, components: {} }, stock: { score: 0.5, components: {} } };
    const tag = (score: number) => ({ score, label: false, threshold: 0.5, cluster: 0 });
    assert.throws(() => checkPrediction({ base: { ...base, nsfw: { porn: Number.NaN } }, custom: {} }), isBug);
    assert.throws(() => checkPrediction({ base, custom: { stripes: tag(-1) } }), isBug);
    assert.throws(() => checkPrediction({ base: { ...base, nsfw: { porn: null as unknown as number } }, custom: {} }), isBug);
    assert.throws(() => checkTagScores({ stripes: tag(1.5) }), isBug);
    assert.doesNotThrow(() => checkPrediction({ base, custom: { stripes: tag(0), blobs: tag(1) } }));
  });
});
