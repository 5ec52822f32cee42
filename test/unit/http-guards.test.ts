// The guards a user relies on when a web page is open beside the engine or it listens for
// others: foreign Host names, Origins and cross-site requests refused; a token required when
// one is set, without a refused upload breaking a keep-alive connection; and `tagsmith serve`
// refusing to listen beyond loopback without a token.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { describe, it } from 'node:test';
import { stripedImages } from '../helpers/engine';
import { multipartBody, rawRequest, serversPerTest } from '../helpers/server';

describe('a server without a token', () => {
  const ownServer = serversPerTest();

  it('refuses foreign Host names, foreign Origins and cross-site requests', async () => {
    const server = await ownServer();
    for (const image of await stripedImages(2)) await server.client.addSample('positive', 'stripes', image);
    const before = JSON.stringify(await server.client.tags());
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
    assert.equal(JSON.stringify(await server.client.tags()), before, 'nothing was cleaned');
    const ok = await rawRequest(server.port, { path: '/health', headers: { host: `localhost:${server.port}`, 'sec-fetch-site': 'none' } });
    assert.equal(ok.status, 200);
  });
});

describe('a server with a token', () => {
  const ownServer = serversPerTest();

  it('refuses requests without the token or with a wrong one', async () => {
    const guarded = await ownServer({ token: 's3cret-token' });
    assert.equal((await guarded.client.health()).status, 'ok');
    const none = await rawRequest(guarded.port, { path: '/health' });
    assert.deepEqual([none.status, none.json.error.code], [401, 'unauthorized']);
    const wrong = await rawRequest(guarded.port, { path: '/health', headers: { authorization: 'Bearer guess' } });
    assert.equal(wrong.status, 401);
  });

  it('keeps a keep-alive client working after refusing an upload it did not read', async () => {
    const guarded = await ownServer({ token: 's3cret-token' });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    // One socket for both requests: the refused upload's unread bytes must not become the next request.
    const send = (method: string, path: string, headers: Record<string, string>, body?: Buffer) =>
      new Promise<{ status: number; connection?: string }>((resolve, reject) => {
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
    }
  });
});

describe('tagsmith serve', () => {
  it('refuses to listen beyond loopback without a token', () => {
    const cli = path.resolve(__dirname, '../../kernel/cli.ts');
    const run = spawnSync(process.execPath, ['--import', 'tsx', cli, 'serve', '--host', '0.0.0.0', '--port', '0'], {
      encoding: 'utf8',
      env: { ...process.env, TAGSMITH_TOKEN: '' },
      timeout: 30_000,
    });
    assert.equal(run.status, 2);
    assert.match(run.stderr, /refusing to listen on 0\.0\.0\.0 without a token/);
  });
});
