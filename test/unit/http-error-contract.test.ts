// Issue 15's attack pass against the HTTP layer: whatever a client sends — a body over the
// limit in any framing, a malformed form, a broken request line, a method or media type an
// endpoint does not take — it gets {"error": {"code", "message"}} with the right 4xx and a
// true message, the state stays as it was, and the server keeps working.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { blobImages, stripedImages } from '../helpers/engine';
import { chunk, LAST_CHUNK, multipartWithHeader, rawExchange, requestHead, type RawResponse } from '../helpers/raw-http';
import { startTestServer, type TestServer } from '../helpers/server';
import { eventually } from '../helpers/wait';

const MB = 1024 * 1024;
const LIMIT_MB = 5;
const BOUNDARY = 'tagsmith-boundary';
const MULTIPART = `multipart/form-data; boundary=${BOUNDARY}`;

interface Case {
  name: string;
  /** The bytes sent; the body may be left unfinished on purpose. */
  request: () => Buffer;
  status: number;
  /** The error code; undefined for answers without a body (HEAD). */
  code?: string;
  /** Something the message must say (or, with `not`, must not). */
  message?: RegExp;
  not?: RegExp;
  headers?: Record<string, string>;
}

const head = (method: string, path: string, headers: Record<string, string | number> = {}) => Buffer.from(requestHead(method, path, headers));
const withLength = (method: string, path: string, contentType: string | undefined, body: Buffer) =>
  Buffer.concat([head(method, path, { ...(contentType ? { 'content-type': contentType } : {}), 'content-length': body.length }), body]);
/** A chunked body of `total` bytes in 64 KB chunks, finished or left open. */
const chunked = (method: string, path: string, contentType: string, body: Buffer, finish: boolean) => {
  const chunks = [];
  for (let i = 0; i < body.length; i += 64 * 1024) chunks.push(chunk(body.subarray(i, i + 64 * 1024)));
  return Buffer.concat([head(method, path, { 'content-type': contentType, 'transfer-encoding': 'chunked' }), ...chunks, Buffer.from(finish ? LAST_CHUNK : '')]);
};
const filePart = (name: string, fileName: string, content: Buffer) =>
  multipartWithHeader(BOUNDARY, `Content-Disposition: form-data; name="${name}"; filename="${fileName}"\r\nContent-Type: image/jpeg`, content);
const parts = (count: number, file: boolean) =>
  Buffer.from(
    Array.from(
      { length: count },
      (_, i) => `--${BOUNDARY}\r\nContent-Disposition: form-data; name="f${i}"${file ? `; filename="f${i}.jpg"` : ''}\r\n\r\nv\r\n`,
    ).join('') + `--${BOUNDARY}--\r\n`,
  );

describe('every answer follows the error contract', () => {
  let server: TestServer;
  let cases: Case[];
  let jpeg: Buffer;
  before(async () => {
    server = await startTestServer({ maxUploadBytes: LIMIT_MB * MB });
    for (const image of await stripedImages(2)) await server.client.addSample('positive', 'stripes', image);
    for (const image of await blobImages(2)) await server.client.addSample('negative', 'stripes', image);
    [jpeg] = await blobImages(1, 50);
    const over = Buffer.alloc((LIMIT_MB + 1) * MB, 0xab);
    const big = Buffer.alloc(8 * MB, 0xab);
    const tooLarge = /larger than 5 MB/;
    cases = [
      // Item 3/4: the limit holds whatever the framing, and is enforced as the bytes come.
      {
        name: 'chunked octet-stream over the limit',
        request: () => chunked('POST', '/predict', 'application/octet-stream', over, true),
        status: 413,
        code: 'payload_too_large',
        message: tooLarge,
      },
      {
        name: 'chunked octet-stream that never ends',
        request: () => chunked('POST', '/predict', 'application/octet-stream', big, false),
        status: 413,
        code: 'payload_too_large',
        message: tooLarge,
      },
      {
        name: 'chunked image/jpeg that never ends',
        request: () => chunked('POST', '/add/positive/stripes', 'image/jpeg', big, false),
        status: 413,
        code: 'payload_too_large',
        message: tooLarge,
      },
      {
        name: 'chunked multipart over the limit',
        request: () => chunked('POST', '/predict', MULTIPART, filePart('data', 'a.jpg', over), true),
        status: 413,
        code: 'payload_too_large',
        message: tooLarge,
      },
      {
        name: 'chunked multipart that never ends',
        request: () =>
          chunked(
            'POST',
            '/add/positive/stripes',
            MULTIPART,
            Buffer.concat([Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="data"; filename="a.jpg"\r\n\r\n`), big]),
            false,
          ),
        status: 413,
        code: 'payload_too_large',
        message: tooLarge,
      },
      { name: 'multipart preamble that never ends', request: () => chunked('POST', '/predict', MULTIPART, big, false), status: 413, code: 'payload_too_large' },
      {
        name: 'multipart: a real JPEG padded past the limit',
        request: () => withLength('POST', '/add/positive/stripes', MULTIPART, filePart('data', 'padded.jpg', Buffer.concat([jpeg, over]))),
        status: 413,
        code: 'payload_too_large',
        message: tooLarge,
      },
      {
        name: 'multipart: the data field as a text field over the limit',
        request: () =>
          withLength('POST', '/predict_by_features', MULTIPART, multipartWithHeader(BOUNDARY, 'Content-Disposition: form-data; name="data"', over)),
        status: 413,
        code: 'payload_too_large',
      },
      {
        name: 'Content-Length of 10 GB',
        request: () => head('POST', '/predict', { 'content-type': 'image/jpeg', 'content-length': 10 * 1024 * MB }),
        status: 413,
        code: 'payload_too_large',
      },
      {
        name: 'features JSON over the limit',
        request: () =>
          withLength(
            'POST',
            '/predict_by_features',
            'application/json',
            Buffer.concat([Buffer.from('['), Buffer.alloc(LIMIT_MB * MB, 0x20), Buffer.from(']')]),
          ),
        status: 413,
        code: 'payload_too_large',
      },
      {
        name: 'a body to an endpoint that takes none, over its allowance',
        request: () => chunked('POST', '/train/stripes', 'application/octet-stream', big, false),
        status: 413,
        code: 'payload_too_large',
        message: /takes no body/,
      },

      // Item 8: malformed forms.
      {
        name: 'multipart without a boundary',
        request: () => withLength('POST', '/predict', 'multipart/form-data', filePart('data', 'a.jpg', jpeg)),
        status: 400,
        code: 'bad_request',
        message: /boundary/,
      },
      {
        name: 'multipart with an empty boundary',
        request: () => withLength('POST', '/predict', 'multipart/form-data; boundary=', filePart('data', 'a.jpg', jpeg)),
        status: 400,
        code: 'bad_request',
        message: /boundary/,
      },
      {
        name: 'truncated multipart body',
        request: () => withLength('POST', '/add/positive/stripes', MULTIPART, filePart('data', 'a.jpg', jpeg).subarray(0, 400)),
        status: 400,
        code: 'bad_request',
        message: /cut short/,
      },
      {
        name: 'truncated chunked multipart body',
        request: () => chunked('POST', '/predict', MULTIPART, filePart('data', 'a.jpg', jpeg).subarray(0, 400), true),
        status: 400,
        code: 'bad_request',
        message: /cut short/,
      },
      ...['name="da\rta"; filename="a.jpg"', 'name="data"\r; filename="a.jpg"', 'name="data";\rfilename="a.jpg"'].map((disposition) => ({
        name: `bare CR in a 300 KB part's header: ${JSON.stringify(disposition)}`,
        request: () =>
          withLength(
            'POST',
            '/predict',
            MULTIPART,
            multipartWithHeader(BOUNDARY, `Content-Disposition: form-data; ${disposition}\r\nContent-Type: image/jpeg`, Buffer.alloc(300 * 1024, 0x41)),
          ),
        status: 400,
        code: 'missing_field',
      })),
      {
        name: 'a 300 KB part without Content-Disposition',
        request: () => withLength('POST', '/predict', MULTIPART, multipartWithHeader(BOUNDARY, 'Content-Type: image/jpeg', Buffer.alloc(300 * 1024, 0x41))),
        status: 400,
        code: 'missing_field',
      },
      {
        name: '5,000 small file parts',
        request: () => withLength('POST', '/predict', MULTIPART, parts(5000, true)),
        status: 413,
        code: 'payload_too_large',
        message: /more than 4 files/,
        not: /larger than/,
      },
      {
        name: '5,000 small fields',
        request: () => withLength('POST', '/predict', MULTIPART, parts(5000, false)),
        status: 413,
        code: 'payload_too_large',
        message: /more than 16 fields/,
        not: /larger than/,
      },
      {
        name: 'a form field named __proto__',
        request: () =>
          withLength('POST', '/predict', MULTIPART, multipartWithHeader(BOUNDARY, 'Content-Disposition: form-data; name="__proto__"', Buffer.from('x'))),
        status: 400,
        code: 'bad_request',
      },

      // Item 8: what the router and node's HTTP parser refuse.
      { name: '10,000-character path parameter', request: () => head('GET', `/status/${'a'.repeat(10_000)}`), status: 414, code: 'uri_too_long' },
      { name: 'broken percent-encoding', request: () => head('GET', '/status/%E0%A4%A'), status: 400, code: 'bad_request', message: /percent-encoding/ },
      { name: 'headers larger than 16 KB', request: () => head('GET', '/health', { 'x-big': 'a'.repeat(20_000) }), status: 431, code: 'headers_too_large' },
      { name: 'an unknown method token', request: () => Buffer.from('FOO /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'), status: 400, code: 'bad_request' },
      { name: 'a request line of garbage', request: () => Buffer.from('\x01\x02garbage\r\n\r\n'), status: 400, code: 'bad_request' },
      {
        name: 'a header name with a space',
        request: () => Buffer.from('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header: x\r\n\r\n'),
        status: 400,
        code: 'bad_request',
      },
      {
        name: 'Content-Length and Transfer-Encoding both',
        request: () => head('POST', '/predict', { 'content-type': 'image/jpeg', 'content-length': 5, 'transfer-encoding': 'chunked' }),
        status: 400,
        code: 'bad_request',
      },
      {
        name: 'a chunk size that is not hex',
        request: () =>
          Buffer.concat([head('POST', '/predict', { 'content-type': 'image/jpeg', 'transfer-encoding': 'chunked' }), Buffer.from('zz\r\nabc\r\n0\r\n\r\n')]),
        status: 400,
        code: 'bad_request',
      },
      {
        name: 'CONNECT (a proxy tunnel)',
        request: () => Buffer.from('CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'),
        status: 405,
        code: 'method_not_allowed',
      },
      { name: 'an HTTP/2 preface', request: () => Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), status: 400, code: 'bad_request' },
      {
        name: 'Expect: something other than 100-continue',
        request: () => head('GET', '/health', { expect: 'the-unexpected' }),
        status: 417,
        code: 'expectation_failed',
      },

      // Item 8: media types, methods and paths.
      {
        name: 'JSON sent to an image endpoint',
        request: () => withLength('POST', '/predict', 'application/json', Buffer.from('{}')),
        status: 415,
        code: 'unsupported_media_type',
        message: /takes an image/,
      },
      {
        name: 'text/plain sent to /add',
        request: () => withLength('POST', '/add/positive/stripes', 'text/plain', Buffer.from('hello')),
        status: 415,
        code: 'unsupported_media_type',
      },
      {
        name: 'a form-urlencoded body (curl -d) to /predict_by_features',
        request: () => withLength('POST', '/predict_by_features', 'application/x-www-form-urlencoded', Buffer.from('a=1')),
        status: 415,
        code: 'unsupported_media_type',
        message: /features document/,
      },
      { name: 'a body without Content-Type', request: () => withLength('POST', '/predict', undefined, jpeg), status: 415, code: 'unsupported_media_type' },
      {
        name: 'a Content-Type that is not a media type',
        request: () => withLength('POST', '/predict', ';;;', jpeg),
        status: 415,
        code: 'unsupported_media_type',
      },
      { name: 'a tar sent to /predict', request: () => withLength('POST', '/predict', 'application/x-tar', jpeg), status: 415, code: 'unsupported_media_type' },
      {
        name: 'a gzip-encoded body',
        request: () =>
          Buffer.concat([
            head('POST', '/predict_by_features', { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': 2 }),
            Buffer.from('{}'),
          ]),
        status: 415,
        code: 'unsupported_media_type',
        message: /Content-Encoding/,
      },
      {
        name: 'JSON that does not parse',
        request: () => withLength('POST', '/predict_by_features', 'application/json', Buffer.from('{"features": [1, 2')),
        status: 400,
        code: 'invalid_features',
      },
      {
        name: 'an empty JSON body',
        request: () => withLength('POST', '/predict_by_features', 'application/json', Buffer.alloc(0)),
        status: 400,
        code: 'invalid_features',
      },
      {
        name: 'JSON with __proto__',
        request: () => withLength('POST', '/predict_by_features', 'application/json', Buffer.from('{"__proto__": {"x": 1}}')),
        status: 400,
        code: 'invalid_features',
      },
      {
        name: 'JSON that does not parse, to an endpoint without a body',
        request: () => withLength('POST', '/train/stripes', 'application/json', Buffer.from('{')),
        status: 400,
        code: 'bad_request',
        not: /features/,
      },
      { name: 'HEAD /health', request: () => head('HEAD', '/health'), status: 405, headers: { allow: 'GET' } },
      { name: 'HEAD /train/stripes does not train', request: () => head('HEAD', '/train/stripes'), status: 405, headers: { allow: 'GET, POST' } },
      { name: 'OPTIONS /predict', request: () => head('OPTIONS', '/predict'), status: 405, code: 'method_not_allowed', headers: { allow: 'POST' } },
      { name: 'PUT /tags', request: () => head('PUT', '/tags'), status: 405, code: 'method_not_allowed', headers: { allow: 'GET' } },
      { name: 'DELETE /tags/stripes/samples', request: () => head('DELETE', '/tags/stripes/samples'), status: 405, code: 'method_not_allowed' },
      { name: 'an unknown path', request: () => head('GET', '/nope'), status: 404, code: 'not_found' },
      { name: 'an unknown method on an unknown path', request: () => head('PATCH', '/nope/nope'), status: 404, code: 'not_found' },
    ];
  });
  after(() => server.close());

  it('answers each hostile request with its status and code, and changes nothing', async () => {
    const snapshot = async () =>
      JSON.stringify({ health: await server.client.health(), tags: await server.client.tags(), samples: await server.client.samples('stripes') });
    const before = await snapshot();
    const failures: string[] = [];
    for (const c of cases) {
      const exchange = rawExchange(server.port, c.request());
      let reply: RawResponse;
      try {
        reply = await exchange.response;
      } catch (error) {
        failures.push(`${c.name}: ${(error as Error).message}`);
        continue;
      } finally {
        exchange.socket.destroy();
      }
      const got = `${reply.status} ${reply.json?.error?.code ?? ''}`.trim();
      const want = `${c.status} ${c.code ?? ''}`.trim();
      if (got !== want) failures.push(`${c.name}: expected ${want}, got ${got} ${reply.text.slice(0, 200)}`);
      if (c.code !== undefined) {
        if (!/^application\/json/.test(reply.headers['content-type'] ?? '')) failures.push(`${c.name}: content-type ${reply.headers['content-type']}`);
        const message = reply.json?.error?.message;
        if (typeof message !== 'string' || message.length === 0) failures.push(`${c.name}: no message`);
        else {
          if (c.message && !c.message.test(message)) failures.push(`${c.name}: message ${JSON.stringify(message)} does not match ${c.message}`);
          if (c.not?.test(message)) failures.push(`${c.name}: message ${JSON.stringify(message)} should not match ${c.not}`);
        }
      }
      for (const [name, value] of Object.entries(c.headers ?? {})) {
        if (reply.headers[name] !== value) failures.push(`${c.name}: header ${name} is ${reply.headers[name]}, expected ${value}`);
      }
    }
    assert.deepEqual(failures, []);
    assert.equal(await snapshot(), before, 'the state is unchanged');
    // And the server still does its work.
    assert.equal(typeof (await server.client.predict(jpeg)).base.aesthetic.score, 'number');
    assert.equal((await server.client.addSample('positive', 'after-the-storm', jpeg)).added, true);
  });

  it("logs every refused request, including those refused by node's HTTP parser", async () => {
    const logged = server.log.length;
    for (const request of [
      Buffer.from('FOO /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'),
      head('POST', '/predict', { 'content-type': 'image/jpeg', 'content-length': 10 * 1024 * MB }),
    ]) {
      const exchange = rawExchange(server.port, request);
      await exchange.response;
      exchange.socket.destroy();
      await exchange.closed;
    }
    // A line may be written just after its answer has gone out.
    const logs = (pattern: RegExp) => () => server.log.slice(logged).some((line) => pattern.test(line));
    await eventually(logs(/client error: 400 bad_request/), "the parser's refusal is logged", 10_000);
    await eventually(logs(/^POST \/predict 413 /), 'a 413 is logged like any answer', 10_000);
  });
});
