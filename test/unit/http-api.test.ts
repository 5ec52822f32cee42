// The HTTP API through the typed client and raw requests: the SDK flow, both ways of sending an
// image, GET and POST where the SDK uses either, the error answers, the upload limit and the
// OpenAPI document. The tests that change a state start a server of their own; the others share
// one whose tag they only read. (The loopback and token guards: http-guards.test.ts.)
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ENDPOINTS, type Endpoint } from '../../kernel/api/endpoints';
import { TagsmithApiError } from '../../kernel/client/tagsmith-client';
import { blobImages, stripedImages } from '../helpers/engine';
import { pngHeaderOnly } from '../helpers/images';
import { multipartBody, rawRequest, serversPerTest, startTestServer, type TestServer } from '../helpers/server';
import { within } from '../helpers/wait';

const apiError = (code: string, status: number) => (e: unknown) => e instanceof TagsmithApiError && e.code === code && e.status === status;

describe('the HTTP API', () => {
  const ownServer = serversPerTest();

  it('runs the SDK flow: add, train, status, predict, features, by-features, backup, clean, restore', async () => {
    const { client, log } = await ownServer();
    for (const image of await stripedImages(6)) await client.addSample('positive', 'stripes', image, 'stripes.jpg');
    for (const image of await blobImages(6)) await client.addSample('negative', 'stripes', image);
    const progress: number[] = [];
    const done = await client.train('stripes', { num_clusters: 2 }).onProgress((t) => progress.push(t.progress));
    assert.equal(done.state, 'done');
    assert.ok(done.metrics!.rocAuc > 0.9);
    assert.equal(progress.at(-1), 1);

    const [probe] = await stripedImages(1, 40);
    const prediction = await client.predict(probe);
    assert.equal(prediction.custom.stripes.label, true);
    assert.ok(prediction.base.stock.score > 0 && 'nsfw' in prediction.base);
    assert.deepEqual(Object.keys(await client.predictCustom(probe)), ['stripes']);
    const one = await client.predictCustom(probe, 'stripes');
    const doc = await client.getFeatures(probe);
    const byFeatures = await client.predictByFeatures(doc);
    assert.ok(Math.abs(byFeatures.custom.stripes.score - one.stripes.score) < 1e-6);

    const archive = await client.getState();
    assert.equal((await client.clean('stripes')).removedSamples, 12);
    await assert.rejects(client.predictCustom(probe, 'stripes'), apiError('unknown_tag', 404));
    assert.deepEqual(await client.setState(archive), { tags: 1, samples: 12 });
    assert.deepEqual((await client.predictCustom(probe, 'stripes')).stripes, one.stripes);
    const health = await client.health();
    assert.equal(health.samples, 12);
    assert.equal(health.backbone, 'mobilenet_v2_140_int8_flip320');
    assert.ok(
      log.some((line) => /^POST \/add\/positive\/stripes 200 \d+ms$/.test(line)),
      'one log line per request',
    );
  });

  it('accepts an image as a raw image/* body and GET or POST for train and clean', async () => {
    const own = await ownServer();
    for (const image of await stripedImages(2)) await own.client.addSample('positive', 'stripes', image);
    const [image, other] = await blobImages(2, 30);
    const raw = await rawRequest(own.port, { method: 'POST', path: '/add/negative/stripes', headers: { 'content-type': 'image/jpeg' }, body: image });
    assert.deepEqual([raw.status, raw.json.added], [200, true]);
    await own.client.addSample('negative', 'stripes', other);
    const predicted = await rawRequest(own.port, { method: 'POST', path: '/predict', headers: { 'content-type': 'image/jpeg' }, body: image });
    assert.equal(predicted.status, 200);
    assert.ok(predicted.json.base.aesthetic.score >= 0);
    assert.equal((await rawRequest(own.port, { path: '/train/stripes' })).status, 200);
    assert.equal((await rawRequest(own.port, { method: 'POST', path: '/train/stripes' })).status, 200);
    await within(own.engine.whenIdle(), 120_000, 'both trainings have finished');
    assert.deepEqual(
      (await own.client.tasks()).map((t) => t.state),
      ['done', 'done'],
    );
    assert.equal((await rawRequest(own.port, { path: '/clean/stripes?keep_samples=true' })).status, 200);
    assert.equal((await own.client.tags())[0].trained, false, 'GET /clean removed the model');
    assert.equal((await rawRequest(own.port, { method: 'POST', path: '/clean/stripes' })).status, 200);
    assert.deepEqual(await own.client.tags(), [], 'POST /clean removed the tag');
  });
});

describe("the HTTP API's answers to what it does not do", () => {
  /** A tag with 6 positives and 6 negatives, untrained; the tests only read it. */
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ maxUploadBytes: 2 * 1024 * 1024 });
    for (const image of await stripedImages(6)) await server.client.addSample('positive', 'stripes', image);
    for (const image of await blobImages(6)) await server.client.addSample('negative', 'stripes', image);
  });
  after(() => server.close());

  it('answers every error as JSON with a code and a fitting status', async () => {
    const { client, port } = server;
    const before = JSON.stringify([await client.tags(), await client.samples('stripes')]);
    await assert.rejects(client.addSample('positive', 'stripes', Buffer.from('not an image at all')), apiError('not_an_image', 415));
    await assert.rejects(client.predict(pngHeaderOnly(20000, 20000)), apiError('image_too_large', 413));
    await assert.rejects(client.status('no-such-task'), apiError('unknown_task', 404));
    await assert.rejects(client.samples('never-made'), apiError('unknown_tag', 404));
    await assert.rejects(client.addSample('sideways' as 'positive', 'stripes', (await blobImages(1))[0]), apiError('bad_request', 400));

    const wrongField = multipartBody('image', 'a.jpg', (await blobImages(1))[0]);
    const missing = await rawRequest(port, { method: 'POST', path: '/predict', headers: wrongField.headers, body: wrongField.body });
    assert.equal(missing.status, 400);
    assert.equal(missing.json.error.code, 'missing_field');
    assert.match(missing.json.error.message, /"data"/);

    const empty = await rawRequest(port, { method: 'POST', path: '/predict' });
    assert.equal(empty.json.error.code, 'missing_field');

    const maybe = await rawRequest(port, { path: '/train/stripes?apply_aesthetic_score=maybe' });
    assert.deepEqual([maybe.status, maybe.json.error.code], [400, 'invalid_option']);
    for (const clusters of ['0', '-1', '1e9', 'abc']) {
      const bad = await rawRequest(port, { path: `/train/stripes?num_clusters=${clusters}` });
      assert.deepEqual([bad.status, bad.json.error.code], [400, 'invalid_option'], clusters);
    }
    const tooMany = await rawRequest(port, { path: '/train/stripes?num_clusters=20' });
    assert.deepEqual([tooMany.status, tooMany.json.error.code], [400, 'not_enough_samples']);
    for (const tag of ['..', '%2e%2e', 'a%2Fb', 'x'.repeat(65), '%00']) {
      const bad = await rawRequest(port, { path: `/clean/${tag}` });
      assert.equal(bad.json.error?.code ?? bad.status, bad.status === 404 ? 'not_found' : 'invalid_tag', tag);
      assert.ok(bad.status === 400 || bad.status === 404, `${tag}: ${bad.status}`);
    }
    const unknownRoute = await rawRequest(port, { path: '/nope' });
    assert.deepEqual([unknownRoute.status, unknownRoute.json.error.code], [404, 'not_found']);
    const junk = multipartBody('data', 'features.json', Buffer.from('{"features": [1, 2'));
    const badFeatures = await rawRequest(port, { method: 'POST', path: '/predict_by_features', headers: junk.headers, body: junk.body });
    assert.deepEqual([badFeatures.status, badFeatures.json.error.code], [400, 'invalid_features']);
    assert.equal(JSON.stringify([await client.tags(), await client.samples('stripes')]), before, 'nothing changed');
  });

  it('refuses an upload over the size limit from its Content-Length, before reading it', async () => {
    const big = multipartBody('data', 'big.jpg', Buffer.alloc(3 * 1024 * 1024));
    const reply = await rawRequest(server.port, { method: 'POST', path: '/predict', headers: big.headers, body: big.body });
    assert.deepEqual([reply.status, reply.json.error.code], [413, 'payload_too_large']);
  });

  it('serves an OpenAPI document that lists every endpoint of the SDK', async () => {
    const doc = (await rawRequest(server.port, { path: '/openapi.json' })).json;
    for (const p of [
      '/add/{type}/{tag}',
      '/train/{tag}',
      '/status/{task_id}',
      '/predict',
      '/predict/custom',
      '/predict/custom/{tag}',
      '/get_features',
      '/predict_by_features',
      '/clean/{tag}',
      '/get_state',
      '/set_state',
    ]) {
      assert.ok(doc.paths[p], p);
    }
    // Every operation of the table, also where two entries share a path (GET and POST /scans).
    for (const endpoint of Object.values(ENDPOINTS) as Endpoint[]) {
      for (const method of endpoint.methods) assert.ok(doc.paths[endpoint.path]?.[method.toLowerCase()], `${method} ${endpoint.path}`);
    }
  });
});
