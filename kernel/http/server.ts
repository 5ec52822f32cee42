// The engine's HTTP API: the SDK's endpoints exactly as its document shows them, plus what
// the gallery, the dashboard and the notebook need. Routes come from api/endpoints.ts.
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import { ENDPOINTS, routerPath, type EndpointName } from '../api/endpoints';
import { openApiDocument } from '../api/openapi';
import { TagsmithError } from '../errors';
import type { TagsmithEngine } from '../engine/tagsmith-engine';
import type { SampleType } from '../state/stored-records';
import { parseBoolean, parseTrainQuery } from '../training/train-options';
import { toTagsmithError } from './error-reply';
import { guardRequest, type GuardOptions } from './request-guard';
import { readUpload, withUploadStream } from './uploads';
import { VERSION } from '../version';

export interface ServerOptions extends GuardOptions {
  /** Largest image or features upload, bytes (default 50 MB). */
  maxUploadBytes: number;
  /** Largest state archive upload, bytes (default 4 GB). */
  maxArchiveBytes: number;
  log: (line: string) => void;
}

export const DEFAULT_MAX_UPLOAD = 50 * 1024 * 1024;
export const DEFAULT_MAX_ARCHIVE = 4 * 1024 * 1024 * 1024;

type Params = Record<string, string>;
type Query = Record<string, string | undefined>;
type Handler = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

export async function createServer(engine: TagsmithEngine, options: ServerOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: options.maxUploadBytes, routerOptions: { maxParamLength: 300 } });
  await app.register(multipart, { limits: { fileSize: options.maxArchiveBytes, files: 4, fields: 16, parts: 32 } });

  // Raw bodies: images are buffered (bounded), archives and octet streams are passed on as streams.
  app.addContentTypeParser(/^image\//, { parseAs: 'buffer', bodyLimit: options.maxUploadBytes }, (_req, body, done) => done(null, body));
  app.addContentTypeParser(['application/x-tar', 'application/gzip', 'application/x-gzip', 'application/octet-stream'], (_req, payload, done) => done(null, payload));

  app.addHook('onRequest', async (request) => {
    guardRequest(request.headers, options);
    // Refuse an oversized upload before reading a byte of it.
    const length = Number(request.headers['content-length'] ?? 0);
    const limit = request.url.startsWith(ENDPOINTS.setState.path) ? options.maxArchiveBytes : options.maxUploadBytes + 64 * 1024;
    if (length > limit) throw new TagsmithError('payload_too_large', `The upload is ${length} bytes; this endpoint accepts at most ${limit}.`);
  });
  app.addHook('onResponse', async (request, reply) => {
    options.log(`${request.method} ${request.url} ${reply.statusCode} ${reply.elapsedTime.toFixed(0)}ms`);
  });
  app.setErrorHandler(async (error, request, reply) => {
    const e = toTagsmithError(error);
    if (e.status >= 500) options.log(`error: ${e.message}${e.cause instanceof Error && e.cause.stack ? `\n${e.cause.stack}` : ''}`);
    // Refused before its body was read (busy, unauthorised, a bad tag): read and discard the
    // rest if it is not too big, so the client can finish sending and keep its connection;
    // otherwise close the connection. Kept alive with bytes unread, the rest of the upload
    // would be taken for the client's next request, which then hangs (bench:reliability's
    // set_state race found this).
    if (!request.raw.complete && e.status !== 413) await discardBody(request.raw, DISCARD_LIMIT_BYTES, DISCARD_TIMEOUT_MS);
    if (!request.raw.complete) reply.header('connection', 'close');
    return reply.status(e.status).type('application/json').send({ error: e.toJSON() });
  });
  app.setNotFoundHandler(async (request, reply) =>
    reply.status(404).send({ error: { code: 'not_found', message: `No endpoint ${request.method} ${request.url.split('?')[0]}; see /openapi.json.` } }),
  );

  const image = async (request: FastifyRequest) => (await readUpload(request, options.maxUploadBytes)).bytes;
  const handlers: Record<EndpointName, Handler> = {
    addSample: async (request) => {
      const { type, tag } = request.params as Params;
      const upload = await readUpload(request, options.maxUploadBytes);
      return engine.addSample(type as SampleType, tag, upload.bytes, { fileName: upload.fileName });
    },
    train: async (request) => {
      const { tag } = request.params as Params;
      const task = await engine.train(tag, parseTrainQuery(new URLSearchParams(request.query as Record<string, string>)));
      return { task_id: task.task_id, tag: task.tag, state: task.state, options: task.options };
    },
    status: async (request) => engine.status((request.params as Params).task_id),
    predict: async (request) => engine.predict(await image(request)),
    predictCustom: async (request) => engine.predictCustom(await image(request)),
    predictCustomTag: async (request) => engine.predictCustom(await image(request), (request.params as Params).tag),
    getFeatures: async (request) => engine.getFeatures(await image(request)),
    predictByFeatures: async (request) => {
      const body = request.body;
      if (body !== null && typeof body === 'object' && !Buffer.isBuffer(body) && !(body instanceof Readable)) return engine.predictByFeatures(body);
      const { bytes } = await readUpload(request, options.maxUploadBytes);
      let doc: unknown;
      try {
        doc = JSON.parse(bytes.toString('utf8'));
      } catch {
        throw new TagsmithError('invalid_features', 'The features document is not JSON; send what /get_features returned.');
      }
      return engine.predictByFeatures(doc);
    },
    clean: async (request) => {
      const keep = (request.query as Query).keep_samples;
      return engine.clean((request.params as Params).tag, { keepSamples: keep === undefined ? false : parseBoolean('keep_samples', keep) });
    },
    getState: async (_request, reply) => {
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      return reply
        .type('application/x-tar')
        .header('content-disposition', `attachment; filename="tagsmith-state-${stamp}.tar"`)
        .send(await engine.getState());
    },
    setState: async (request) => withUploadStream(request, (stream) => engine.setState(stream)),
    tags: async () => ({ tags: await engine.listTags() }),
    samples: async (request) => engine.listSamples((request.params as Params).tag),
    removeSample: async (request) => {
      const { tag, sample_id } = request.params as Params;
      await engine.removeSample(tag, sample_id);
      return { removed: sample_id };
    },
    moveSample: async (request) => {
      const { tag, sample_id } = request.params as Params;
      const to = (request.query as Query).to;
      return engine.moveSample(tag, sample_id, to as SampleType);
    },
    sampleImage: async (request, reply) => reply.type('application/octet-stream').send(await engine.sampleImage((request.params as Params).sample_id)),
    thumbnail: async (request, reply) => {
      const size = Number((request.query as Query).size ?? 256);
      if (!Number.isFinite(size)) throw new TagsmithError('bad_request', 'size must be a number of pixels.');
      return reply.type('image/webp').header('cache-control', 'private, max-age=86400').send(await engine.thumbnail((request.params as Params).sample_id, size));
    },
    tasks: async (request) => ({ tasks: engine.tasks.list((request.query as Query).tag) }),
    cancelTask: async (request) => engine.tasks.cancel((request.params as Params).task_id),
    health: async () => ({
      status: 'ok',
      version: VERSION,
      backbone: engine.backbone,
      featureLength: engine.featureLength,
      stateDir: engine.stateDir,
      ...(await engine.health()),
    }),
    openapi: async () => openApiDocument(VERSION),
  };

  for (const [name, endpoint] of Object.entries(ENDPOINTS) as [EndpointName, (typeof ENDPOINTS)[EndpointName]][]) {
    const bodyLimit = endpoint.body === 'archive' ? options.maxArchiveBytes : options.maxUploadBytes;
    app.route({ method: [...endpoint.methods], url: routerPath(endpoint.path), bodyLimit, handler: handlers[name] });
  }
  return app;
}

/** Bodies up to this size are read to their end after an early error; bigger ones close the connection. */
const DISCARD_LIMIT_BYTES = 64 * 1024 * 1024;
const DISCARD_TIMEOUT_MS = 10_000;

/** Reads a request body to its end and throws it away, within a size and a time limit. */
function discardBody(body: IncomingMessage, limitBytes: number, timeoutMs: number): Promise<void> {
  const declared = Number(body.headers['content-length']);
  if (!Number.isFinite(declared) || declared > limitBytes) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      body.off('end', done).off('close', done).off('error', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    body.on('end', done).on('close', done).on('error', done);
    body.resume();
  });
}
