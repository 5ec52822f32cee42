// What each endpoint does, typed by its entry in the endpoint table: a handler receives the
// entry's path parameters and query (as strings) and must answer the entry's reply type (or
// send bytes itself). Parsing and checking are the engine's; this is the wiring.
import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ENDPOINTS, EndpointName, ParamsOf, QueryOf, ResultOf } from '../api/endpoints';
import { openApiDocument } from '../api/openapi';
import type { TagsmithEngine } from '../engine/tagsmith-engine';
import { TagsmithError } from '../errors';
import { csvHeader, csvRow, jsonLine, type ImageCalls, type TableFormat } from '../export/scan-table';
import type { ScanQuery } from '../api/wire-types';
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
    predict: async (request) =>
      engine.predict(await image(request), { keywords: request.query.keywords === undefined ? false : parseBoolean('keywords', request.query.keywords) }),
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
      return reply
        .type('application/x-tar')
        .header('content-disposition', `attachment; filename="tagsmith-state-${stamp}.tar"`)
        .send(await engine.getState());
    },
    setState: async (request) => withUploadStream(request, routeLimit(request), (stream) => engine.setState(stream)),
    tags: async () => ({ tags: await engine.listTags() }),
    samples: async (request) => engine.listSamples(request.params.tag, request.query.order),
    removeSample: async (request) => {
      await engine.removeSample(request.params.tag, request.params.sample_id);
      return { removed: request.params.sample_id };
    },
    moveSample: async (request) => engine.moveSample(request.params.tag, request.params.sample_id, request.query.to),
    sampleImage: async (request, reply) => reply.type('application/octet-stream').send(await engine.sampleImage(request.params.sample_id)),
    thumbnail: async (request, reply) => {
      const size = Number(request.query.size ?? THUMBNAIL_DEFAULT);
      if (!Number.isFinite(size)) throw new TagsmithError('bad_request', 'size must be a number of pixels.');
      return reply
        .type('image/webp')
        .header('cache-control', 'private, max-age=86400')
        .send(await engine.thumbnail(request.params.sample_id, size));
    },
    tasks: async (request) => ({ tasks: engine.listTasks(request.query.tag) }),
    cancelTask: async (request) => engine.cancelTask(request.params.task_id),
    health: async () => ({
      status: 'ok',
      version: VERSION,
      backbone: engine.backbone,
      featureLength: engine.featureLength,
      stateDir: engine.stateDir,
      keywords: engine.keywordsStatus,
      readOnly: engine.readOnly,
      ...(engine.snapshot ? { snapshot: engine.snapshot } : {}),
      ...(await engine.counts()),
    }),
    reload: async () => engine.reload(),
    startScan: async (request) => {
      const body = request.body as { paths?: unknown; keywords?: unknown } | undefined;
      return engine.startScan(body?.paths, { keywords: body?.keywords });
    },
    scans: async () => ({ scans: await engine.listScans() }),
    scan: async (request) => engine.scanStatus(request.params.scan_id),
    cancelScan: async (request) => engine.cancelScan(request.params.scan_id),
    scanResults: async (request) => engine.scanPage(request.params.scan_id, parseScanQuery(request.query)),
    exportScan: async (request, reply) => {
      const format = request.query.format ?? 'jsonl';
      if (format !== 'jsonl' && format !== 'csv')
        throw new TagsmithError('invalid_option', `format must be jsonl or csv; got ${JSON.stringify(format.slice(0, 40))}.`);
      const appliesOnly = request.query.applies_only === undefined ? false : parseBoolean('applies_only', request.query.applies_only);
      const table = await engine.scanRows(request.params.scan_id);
      const name = `tagsmith-scan-${request.params.scan_id}.${format}`;
      return reply
        .type(format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8')
        .header('content-disposition', `attachment; filename="${name}"`)
        .send(Readable.from(tableLines(table, format, appliesOnly)));
    },
    scanSidecars: async (request) => engine.scanSidecars(request.params.scan_id, request.body),
    reviewQueue: async (request) => {
      const { view, scan_id: scanId, offset, limit } = parseReviewQuery(request.query);
      return engine.reviewQueue(request.params.tag, { view, scanId, offset, limit });
    },
    similarToScanned: async (request) =>
      engine.similarToScanned(request.params.scan_id, wholeNumber('index', request.params.index)!, wholeNumber('limit', request.query.limit)),
    similarToSample: async (request) => engine.similarToSample(request.params.sample_id, wholeNumber('limit', request.query.limit)),
    similarToImage: async (request) => engine.similarToImage(await image(request), wholeNumber('limit', request.query.limit)),
    clearFeatureCache: async () => engine.clearFeatureCache(),
    openapi: async () => openApiDocument(VERSION),
  };
}

function wholeNumber(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,9}$/.test(value)) throw new TagsmithError('invalid_option', `${name} must be a whole number; got ${JSON.stringify(value.slice(0, 40))}.`);
  return Number(value);
}

function parseReviewQuery(query: { view?: string; scan_id?: string; offset?: string; limit?: string }): {
  view?: string;
  scan_id?: string;
  offset?: number;
  limit?: number;
} {
  return { view: query.view, scan_id: query.scan_id, offset: wholeNumber('offset', query.offset), limit: wholeNumber('limit', query.limit) };
}

/** A results query's strings as numbers, booleans and the order names. */
function parseScanQuery(query: { [K in keyof ScanQuery]?: string }): ScanQuery {
  const count = wholeNumber;
  const order = query.order;
  if (order !== undefined && order !== 'path' && order !== 'score' && order !== 'informative') {
    throw new TagsmithError('invalid_option', `order must be path, score or informative; got ${JSON.stringify(order.slice(0, 40))}.`);
  }
  return {
    offset: count('offset', query.offset),
    limit: count('limit', query.limit),
    tag: query.tag,
    applies: query.applies === undefined ? undefined : parseBoolean('applies', query.applies),
    order,
  };
}

/** The export's lines, one record per image (only those some tag applies to, if asked). */
function* tableLines(
  table: { tags: string[]; nsfwLabels: string[]; keywords: boolean; rows: Iterable<ImageCalls> },
  format: TableFormat,
  appliesOnly: boolean,
): Generator<string> {
  if (format === 'csv') yield csvHeader(table.tags, table.nsfwLabels, table.keywords);
  for (const row of table.rows) {
    if (appliesOnly && !Object.values(row.tags).some((call) => call.applies)) continue;
    yield format === 'csv' ? csvRow(row, table.tags, table.nsfwLabels, table.keywords) : jsonLine(row);
  }
}
