// Issue 15, item 5 and the archive's tail: a client that sends slowly holds up nobody, one
// that takes too long is answered 408, and an archive's upload is not read past its end.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { blobImages, stripedImages } from '../helpers/engine';
import { chunk, multipartWithHeader, rawExchange, requestHead, trickle } from '../helpers/raw-http';
import { startTestServer, type TestServer } from '../helpers/server';
import { eventually } from '../helpers/wait';

const BOUNDARY = 'slow-boundary';
const archivePart = (archive: Buffer) =>
  multipartWithHeader(BOUNDARY, 'Content-Disposition: form-data; name="data"; filename="state.tar"\r\nContent-Type: application/x-tar', archive);
const setStateHead = (length: number) =>
  requestHead('POST', '/set_state', { 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, 'content-length': length });

/** Rejects if `work` has not settled by the time `deadline` does (a hang guard, not a timing test). */
function beforeThat<T>(work: Promise<T>, deadline: Promise<unknown>, what: string): Promise<T> {
  return Promise.race([work, deadline.then(() => Promise.reject(new Error(`${what} did not answer while the slow upload was still coming`)))]);
}

async function leftovers(stateDir: string): Promise<string[]> {
  return (await fs.readdir(path.join(stateDir, 'tmp'))).filter((name) => name.startsWith('g-'));
}

describe('a slow upload holds up nobody', () => {
  let server: TestServer;
  let archive: Buffer;
  before(async () => {
    server = await startTestServer();
    for (const image of await stripedImages(2)) await server.client.addSample('positive', 'kept', image);
    archive = Buffer.from(await server.client.getState());
  });
  after(() => server.close());

  it('answers /health, /tags and /add while a /set_state upload trickles in, then restores it', async () => {
    const body = archivePart(archive);
    const exchange = rawExchange(server.port, setStateHead(body.length), { hangGuardMs: 120_000 });
    // All but the last 100 bytes, 512 at a time; the rest only once the others have answered,
    // so the upload is unfinished by construction while they are asked.
    const held = body.subarray(body.length - 100);
    let offset = 0;
    const pieces = Math.ceil((body.length - 100) / 512);
    const slow = trickle(exchange.socket, () => body.subarray(offset, (offset = Math.min(offset + 512, body.length - 100))), 20, pieces);
    const [image] = await blobImages(1, 77);
    const never = new Promise((resolve) => setTimeout(resolve, 60_000).unref());
    const health = await beforeThat(server.client.health(), never, '/health');
    const tags = await beforeThat(server.client.tags(), never, '/tags');
    const added = await beforeThat(server.client.addSample('negative', 'kept', image), never, '/add');
    assert.equal(health.status, 'ok');
    assert.deepEqual(
      tags.map((t) => t.tag),
      ['kept'],
    );
    assert.equal(added.added, true);
    await slow.done;
    exchange.socket.write(held);
    const reply = await exchange.response;
    assert.equal(reply.status, 200, reply.text);
    // The archive was taken before the /add: restoring it drops that sample, as a restore should.
    assert.deepEqual(reply.json, { tags: 1, samples: 2 });
    assert.equal((await server.client.samples('kept')).negatives.length, 0);
  });

  it('restores an archive without reading what follows its end (a gigabyte of zeros)', async () => {
    const head = requestHead('POST', '/set_state', { 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, 'transfer-encoding': 'chunked' });
    const start = Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="data"; filename="state.tar"\r\nContent-Type: application/x-tar\r\n\r\n`);
    const exchange = rawExchange(server.port, Buffer.concat([Buffer.from(head), chunk(start), chunk(archive)]), { hangGuardMs: 60_000 });
    // Zeros after the archive's end, for as long as the server reads them: it must answer first.
    const zeros = trickle(exchange.socket, () => chunk(Buffer.alloc(64 * 1024)), 5, 16 * 1024);
    const reply = await exchange.response;
    assert.equal(zeros.finished(), false, 'answered before the upload ended');
    zeros.stop();
    exchange.socket.destroy();
    assert.equal(reply.status, 200, reply.text);
    assert.deepEqual(reply.json, { tags: 1, samples: 2 });
  });
});

describe('a client that takes too long to send its request', () => {
  let server: TestServer;
  let archive: Buffer;
  before(async () => {
    server = await startTestServer({ requestTimeoutMs: 1500, timeoutCheckIntervalMs: 100 });
    for (const image of await stripedImages(2)) await server.client.addSample('positive', 'kept', image);
    archive = Buffer.from(await server.client.getState());
  });
  after(() => server.close());

  for (const [what, head, piece] of [
    ['a /set_state upload', () => setStateHead(archivePart(archive).length), (i: number) => archivePart(archive).subarray(i * 64, i * 64 + 64)],
    [
      'an /add upload',
      () => requestHead('POST', '/add/positive/kept', { 'content-type': 'image/jpeg', 'content-length': 10_000_000 }),
      () => Buffer.alloc(64, 0xff),
    ],
  ] as const) {
    it(`is answered 408 request_timeout for ${what}, and the state is unchanged`, async () => {
      const before = JSON.stringify(await server.client.tags());
      const exchange = rawExchange(server.port, head(), { hangGuardMs: 60_000 });
      let i = 0;
      // 64 bytes every 100 ms: would take minutes.
      const slow = trickle(exchange.socket, () => piece(i++), 100, 10_000);
      const reply = await exchange.response;
      slow.stop();
      assert.equal(slow.finished(), false);
      assert.deepEqual([reply.status, reply.json?.error?.code], [408, 'request_timeout'], reply.text);
      assert.match(reply.json.error.message, /did not arrive whole/);
      await exchange.closed;
      assert.equal(JSON.stringify(await server.client.tags()), before);
      await eventually(async () => (await leftovers(server.engine.stateDir)).length === 0, 'the half-received upload is cleaned away');
      assert.ok(server.log.some((line) => /client error: 408 request_timeout/.test(line)));
    });
  }
});
