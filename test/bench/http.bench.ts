// npm run bench:http -- [--duration 20] [--backbone ID] [--against DIR]
// `tagsmith serve` in its own process under autocannon, 8 connections per endpoint (and /predict
// with 1, the latency of a single user):
// GET /health (the framework's floor, for comparison), /predict_by_features and /predict with
// a 1 MP JPEG. Prints requests/s, latency percentiles, errors and the server's RSS.
// Everything runs twice: the first pass from a cold server, the second warm. RSS growth over
// the warm pass tells a leak from warm-up (V8's heap sizing itself to the load, ONNX Runtime's
// arena growing to a batch's activations, one malloc arena per busy thread).
// --against DIR: another checkout (built) served beside this one; one client alternates
// /predict requests between the two, so both see the same load from the rest of the machine.
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { TagsmithClient } from '../../kernel/client/tagsmith-client';
import { blobImages, stripedImages } from '../helpers/engine';
import { removeDir, startCliServer } from '../helpers/cli-server';
import { scene } from '../helpers/images';
import { multipartBody } from '../helpers/server';
import { percentile, rssMb, table } from './stats';

type Request = {
  method?: 'GET' | 'POST';
  body?: Buffer;
  headers?: Record<string, string>;
  bodies?: () => { body: Buffer; headers: Record<string, string> };
  connections?: number;
};

async function load(url: string, duration: number, request: Request) {
  // autocannon sets Content-Length itself; a second one makes the request malformed.
  const { 'content-length': _length, ...headers } = request.headers ?? {};
  const next = request.bodies;
  return autocannon({
    url,
    connections: request.connections ?? 8,
    duration,
    method: request.method ?? 'GET',
    body: request.body,
    headers,
    ...(next
      ? {
          requests: [
            {
              setupRequest: (r: autocannon.Request) => {
                const { body, headers: h } = next();
                const { 'content-length': _l, ...rest } = h;
                return { ...r, body, headers: rest };
              },
            },
          ],
        }
      : {}),
  });
}

/** Counts across runs: two runs must not send the same bytes, or the second would hit the server's memory of recent images. */
let uniqueCounter = 0;

/** The same JPEG with a different comment segment each time: same pixels, a new sha256, so no cache helps. */
function uniqueJpegs(jpeg: Buffer): () => { body: Buffer; headers: Record<string, string> } {
  return () => {
    const n = uniqueCounter++;
    const comment = Buffer.from(`tagsmith bench ${n}`);
    const segment = Buffer.concat([Buffer.from([0xff, 0xfe, (comment.length + 2) >> 8, (comment.length + 2) & 0xff]), comment]);
    return multipartBody('data', 'photo.jpg', Buffer.concat([jpeg.subarray(0, 2), segment, jpeg.subarray(2)]), 'image/jpeg');
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { duration: { type: 'string', default: '20' }, backbone: { type: 'string' }, against: { type: 'string' } } });
  if (values.against) return sideBySide(Number(values.duration), values.against);
  const duration = Number(values.duration);
  const server = await startCliServer(values.backbone ? ['--backbone', values.backbone] : []);
  const client = new TagsmithClient({ url: server.url });
  for (const image of await stripedImages(10)) await client.addSample('positive', 'stripes', image);
  for (const image of await blobImages(10)) await client.addSample('negative', 'stripes', image);
  await client.train('stripes', { num_clusters: 2 });
  const photo = await scene(1155, 866, 5).jpeg({ quality: 90 }).toBuffer(); // 1.0 megapixel
  const features = Buffer.from(JSON.stringify(await client.getFeatures(photo)));
  const pid = server.process.pid!;
  const { backbone } = await client.health();
  console.log(
    `bench:http — tagsmith serve (pid ${pid}, backbone ${backbone}), 8 connections, ${duration} s per endpoint; 1 MP JPEG of ${(photo.length / 1024).toFixed(0)} KB`,
  );

  const rows: string[][] = [];
  const rssStart = rssMb(pid);
  const rssAfterPass: number[] = [];
  const runs: [string, string, Request][] = [
    ['GET /health (baseline: no work)', '/health', {}],
    ['POST /predict_by_features', '/predict_by_features', { method: 'POST', ...multipartBody('data', 'features.json', features, 'application/json') }],
    ['POST /predict (1 MP JPEG, a new one each time)', '/predict', { method: 'POST', bodies: uniqueJpegs(photo) }],
    // The latency one user sees, without seven others queued in front of each request.
    ['POST /predict, 1 connection', '/predict', { method: 'POST', bodies: uniqueJpegs(photo), connections: 1 }],
  ];
  for (const pass of [1, 2]) {
    for (const [name, path, request] of runs) {
      const before = rssMb(pid);
      const result = await load(server.url + path, duration, request);
      const after = rssMb(pid);
      rows.push([
        String(pass),
        name,
        result.requests.average.toFixed(0),
        result.latency.p50.toFixed(1),
        result.latency.p99.toFixed(1),
        String(result.errors + result.non2xx),
        `${before.toFixed(0)} → ${after.toFixed(0)}`,
      ]);
    }
    rssAfterPass.push(rssMb(pid));
  }
  console.log(table(['pass', 'endpoint', 'requests/s', 'p50 ms', 'p99 ms', 'errors', 'server RSS MB'], rows));
  const [first, second] = rssAfterPass;
  console.log(
    `server RSS: ${rssStart.toFixed(0)} MB cold → ${first.toFixed(0)} after pass 1 (+${(first - rssStart).toFixed(0)}) → ${second.toFixed(0)} after pass 2 (${second - first >= 0 ? '+' : ''}${(second - first).toFixed(0)} over the warm pass)`,
  );
  await server.stop();
  await removeDir(server.stateDir);
}

void main();

/** One client, /predict alternately to this build and another, each request a new 1-MP JPEG. */
async function sideBySide(duration: number, otherRoot: string): Promise<void> {
  const ours = await startCliServer();
  const theirs = await startCliServer([], undefined, path.resolve(otherRoot, 'dist/kernel/cli.js'));
  const photo = await scene(1155, 866, 5).jpeg({ quality: 90 }).toBuffer();
  const next = uniqueJpegs(photo);
  const servers = [
    { name: `this build (${(await new TagsmithClient({ url: ours.url }).health()).backbone})`, server: ours, ms: [] as number[] },
    { name: `${otherRoot} (${(await new TagsmithClient({ url: theirs.url }).health()).backbone})`, server: theirs, ms: [] as number[] },
  ];
  const post = async (url: string) => {
    const { body, headers } = next();
    const t = performance.now();
    const response = await fetch(`${url}/predict`, { method: 'POST', body, headers: { 'content-type': headers['content-type'] } });
    await response.arrayBuffer();
    if (!response.ok) throw new Error(`/predict answered ${response.status}`);
    return performance.now() - t;
  };
  for (const s of servers) for (let i = 0; i < 5; i++) await post(s.server.url); // warm-up
  const end = performance.now() + duration * 1000;
  while (performance.now() < end) for (const s of servers) s.ms.push(await post(s.server.url));
  console.log(`bench:http --against: one client, /predict of a new 1-MP JPEG alternately to each server, ${duration} s`);
  console.log(
    table(
      ['server', 'requests', 'p50 ms', 'p95 ms', 'p99 ms'],
      servers.map((s) => [s.name, String(s.ms.length), percentile(s.ms, 50).toFixed(1), percentile(s.ms, 95).toFixed(1), percentile(s.ms, 99).toFixed(1)]),
    ),
  );
  for (const s of servers) {
    await s.server.stop();
    await removeDir(s.server.stateDir);
  }
}
