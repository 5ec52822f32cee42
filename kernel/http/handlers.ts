// What each endpoint does, typed by its entry in the endpoint table: a handler receives the
// entry's path parameters and query (as strings) and must answer the entry's reply type (or
// send bytes itself). Parsing and checking are the engine's; this is the wiring.
import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ENDPOINTS, EndpointName, ParamsOf, QueryOf, ResultOf } from '../api/endpoints';
import { openApiDocument } from '../api/openapi';
import type { TagsmithEngine } from '../engine/tagsmith-engine';
import { TagsmithError } from '../errors';
import { THUMBNAIL_DEFAULT } from '../rules';
import { parseBoolean, parseTrainQuery } from '../training/train-options';
import type { Upload } from './uploads';
import { withUploadStream } from './uploads';
import { VERSION } from '../version';

/** A request as a handler sees it: the endpoint's path parameters and query, as the strings that came (the engine checks them). */
type RequestOf<E> = FastifyRequest<{ Params: { [K in keyof ParamsOf<E>]: string }; Querystring: { [K in keyof QueryOf<E>]?: string } }>;
type HandlerOf<E> = (request: RequestOf<E>, reply: FastifyReply) => Promise<ResultOf<E> | FastifyReply>;
export type Handlers = { [K in EndpointName]: HandlerOf<(typeof ENDPOINTS)[K]> };

export type ReadUpload = (request: FastifyRequest, kind: 'image' | 'features') => Promise<Upload>;

export function endpointHandlers(engine: TagsmithEngine, upload: ReadUpload, routeLimit: (request: FastifyRequest) => number): Handlers {
  const image = async (request: FastifyRequest) => (await upload(request, 'image')).bytes;
  return {
    addSample: async (request) => {
      const { bytes, fileName } = await upload(request, 'image');
      return engine.addSample(request.params.type, request.params.tag, bytes, { fileName });
    },
    train: async (request) => {
      const task = await engine.train(request.params.tag, parseTrainQuery(new URLSearchParams(request.query as Record<string, string>)));
      return { task_id: task.task_id, tag: task.tag, state: task.state, options: task.options };
    },
    status: async (request) => engine.status(request.params.task_id),
    predict: async (request) => engine.predict(await image(request)),
    predictCustom: async (request) => engine.predictCustom(await image(request)),
    predictCustomTag: async (request) => engine.predictCustom(await image(request), request.params.tag),
    getFeatures: async (request) => engine.getFeatures(await image(request)),
    predictByFeatures: async (request) => {
      // A JSON body arrives parsed; multipart and octet streams are read here.
      if (!request.isMultipart() && !(request.body instanceof Readable) && request.body !== undefined) return engine.predictByFeatures(request.body);
      const { bytes } = await upload(request, 'features');
      let doc: unknown;
      try {
        doc = JSON.parse(bytes.toString('utf8'));
      } catch {
        throw new TagsmithError('invalid_features', 'The features document is not JSON; send what /get_features returned.');
      }
      return engine.predictByFeatures(doc);
    },
    clean: async (request) => {
      const keep = request.query.keep_samples;
      return engine.clean(request.params.tag, { keepSamples: keep === undefined ? false : parseBoolean('keep_samples', keep) });
    },
    getState: async (_request, reply) => {
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      return reply.type('application/x-tar').header('content-disposition', `attachment; filename="tagsmith-state-${stamp}.tar"`).send(await engine.getState());
    },
    setState: async (request) => withUploadStream(request, routeLimit(request), (stream) => engine.setState(stream)),
    tags: async () => ({ tags: await engine.listTags() }),
    samples: async (request) => engine.listSamples(request.params.tag),
    removeSample: async (request) => {
      await engine.removeSample(request.params.tag, request.params.sample_id);
      return { removed: request.params.sample_id };
    },
    moveSample: async (request) => engine.moveSample(request.params.tag, request.params.sample_id, request.query.to),
    sampleImage: async (request, reply) => reply.type('application/octet-stream').send(await engine.sampleImage(request.params.sample_id)),
    thumbnail: async (request, reply) => {
      const size = Number(request.query.size ?? THUMBNAIL_DEFAULT);
      if (!Number.isFinite(size)) throw new TagsmithError('bad_request', 'size must be a number of pixels.');
      return reply.type('image/webp').header('cache-control', 'private, max-age=86400').send(await engine.thumbnail(request.params.sample_id, size));
    },
    tasks: async (request) => ({ tasks: engine.listTasks(request.query.tag) }),
    cancelTask: async (request) => engine.cancelTask(request.params.task_id),
    health: async () => ({
      status: 'ok',
      version: VERSION,
      backbone: engine.backbone,
      featureLength: engine.featureLength,
      stateDir: engine.stateDir,
      ...(await engine.counts()),
    }),
    openapi: async () => openApiDocument(VERSION),
  };
}
