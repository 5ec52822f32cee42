// The HTTP API through the typed client and raw requests: the SDK flow, the error contract,
// and the loopback guards a user relies on when a web page is open beside the engine.
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TagsmithApiError } from '../../kernel/client/tagsmith-client';
import { blobImages, stripedImages } from '../helpers/engine';
import { pngHeaderOnly } from '../helpers/images';
import { multipartBody, rawRequest, startTestServer, type TestServer } from '../helpers/server';

const apiError = (code: string, status: number) => (e: unknown) => e instanceof TagsmithApiError && e.code === code && e.status === status;

describe('HTTP API', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ maxUploadBytes: 2 * 1024 * 1024 });
  });
  after(() => server.close());

  it('runs the SDK flow: add, train, status, predict, features, by-features, backup, clean, restore', async () => {
    const { client } = server;
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
    assert.ok(server.log.some((line) => /^POST \/add\/positive\/stripes 200 \d+ms$/.test(line)), 'one log line per request');
  });

  it('accepts an image as a raw image/* body and GET or POST for train and clean', async () => {
    const [image] = await blobImages(1, 30);
    const raw = await rawRequest(server.port, { method: 'POST', path: '/predict', headers: { 'content-type': 'image/jpeg' }, body: image });
    assert.equal(raw.status, 200);
    assert.ok(raw.json.base.aesthetic.score >= 0);
    assert.equal((await rawRequest(server.port, { path: '/train/stripes' })).status, 200);
    assert.equal((await rawRequest(server.port, { method: 'POST', path: '/train/stripes' })).status, 200);
    await server.engine.whenIdle();
  });

  it('answers every error as JSON with a code and a fitting status', async () => {
    const { client, port } = server;
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
  });

  it('refuses an upload over the size limit from its Content-Length, before reading it', async () => {
    const big = multipartBody('data', 'big.jpg', Buffer.alloc(3 * 1024 * 1024));
    const reply = await rawRequest(server.port, { method: 'POST', path: '/predict', headers: big.headers, body: big.body });
    assert.deepEqual([reply.status, reply.json.error.code], [413, 'payload_too_large']);
  });

  it('refuses foreign Host names, foreign Origins and cross-site requests', async () => {
    const before = (await server.client.tags()).length;
    const cases: Record<string, string>[] = [
      { host: 'evil.example' },
      { host: 'attacker.com:5000' },
      { origin: 'https://evil.example' },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
    ];
    for (const headers of cases) {
      const reply = await rawRequest(server.port, { path: '/clean/stripes', headers });
      assert.deepEqual([reply.status, reply.json.error.code], [403, 'forbidden'], JSON.stringify(headers));
    }
    assert.equal((await server.client.tags()).length, before, 'nothing was cleaned');
    const ok = await rawRequest(server.port, { path: '/health', headers: { host: `localhost:${server.port}`, 'sec-fetch-site': 'none' } });
    assert.equal(ok.status, 200);
  });

  it('with a token, refuses requests without it or with a wrong one', async () => {
    const guarded = await startTestServer({ token: 's3cret-token' });
    try {
      assert.equal((await guarded.client.health()).status, 'ok');
      const none = await rawRequest(guarded.port, { path: '/health' });
      assert.deepEqual([none.status, none.json.error.code], [401, 'unauthorized']);
      const wrong = await rawRequest(guarded.port, { path: '/health', headers: { authorization: 'Bearer guess' } });
      assert.equal(wrong.status, 401);
    } finally {
      await guarded.close();
    }
  });

  it('keeps a keep-alive client working after refusing an upload it did not read', async () => {
    const guarded = await startTestServer({ token: 's3cret-token' });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    // One socket for both requests: the refused upload's unread bytes must not become the next request.
    const send = (method: string, path: string, headers: Record<string, string>, body?: Buffer) => new Promise<{ status: number; connection?: string }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: guarded.port, method, path, headers, agent, timeout: 5000 }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path} got no answer`)));
      req.on('error', reject);
      req.end(body);
    });
    try {
      const upload = multipartBody('data', 'state.tar', Buffer.alloc(2 * 1024 * 1024, 7), 'application/x-tar');
      const refused = await send('POST', '/set_state', upload.headers, upload.body);
      assert.equal(refused.status, 401);
      const next = await send('GET', '/health', { authorization: 'Bearer s3cret-token' });
      assert.equal(next.status, 200);
    } finally {
      agent.destroy();
      await guarded.close();
    }
  });

  it('serves an OpenAPI document that lists every endpoint of the SDK', async () => {
    const doc = (await rawRequest(server.port, { path: '/openapi.json' })).json;
    for (const p of ['/add/{type}/{tag}', '/train/{tag}', '/status/{task_id}', '/predict', '/predict/custom', '/predict/custom/{tag}', '/get_features', '/predict_by_features', '/clean/{tag}', '/get_state', '/set_state']) {
      assert.ok(doc.paths[p], p);
    }
  });
});

describe('tagsmith serve', () => {
  it('refuses to listen beyond loopback without a token', () => {
    const cli = path.resolve(__dirname, '../../kernel/cli.ts');
    const run = spawnSync(process.execPath, ['--import', 'tsx', cli, 'serve', '--host', '0.0.0.0', '--port', '0'], { encoding: 'utf8', env: { ...process.env, TAGSMITH_TOKEN: '' }, timeout: 30_000 });
    assert.equal(run.status, 2);
    assert.match(run.stderr, /refusing to listen on 0\.0\.0\.0 without a token/);
  });
});
