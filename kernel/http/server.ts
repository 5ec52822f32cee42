// The engine's HTTP API: the SDK's endpoints exactly as its document shows them, plus what
// the gallery, the dashboard and the notebook need. Routes come from api/endpoints.ts.
//
// Every answer, whoever produces it (a handler, a hook, the router, the body parsers, node's
// HTTP parser), is {"error": {"code", "message"}} with the status of its code; see
// error-reply.ts. Bodies are held to their endpoint's limit while they stream and must arrive
// within the request timeout (request-body.ts); `stopServer` bounds shutdown.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type RouteHandlerMethod } from 'fastify';
import multipart from '@fastify/multipart';
import { ENDPOINTS, routerPath, type Endpoint, type EndpointName, type HttpMethod, type RequestBody } from '../api/endpoints';
import { TagsmithError } from '../errors';
import type { TagsmithEngine } from '../engine/tagsmith-engine';
import { DEFAULT_ARCHIVE_LIMITS } from '../state/state-archive';
import { clientErrorOf, rawErrorResponse, toTagsmithError, type ErrorContext } from './error-reply';
import { guardRequest, type GuardOptions } from './request-guard';
import {
  bodyLimit,
  checkMediaType,
  countedBody,
  declaredLength,
  formatBytes,
  FORM_LIMITS,
  isLingering,
  lingerAfterAnswer,
  lingeringClose,
  MULTIPART_OVERHEAD,
  NO_BODY_LIMIT,
  parseMediaType,
  stopReading,
  tooLarge,
} from './request-body';
import { endpointHandlers } from './handlers';
import { discardUpload, PART_BUFFER_BYTES, readUpload } from './uploads';

export interface ServerOptions extends GuardOptions {
  /** Largest image or features upload, bytes (default DEFAULT_MAX_UPLOAD, 50 MB; at most MAX_UPLOAD). */
  maxUploadBytes: number;
  /** Largest state archive upload, bytes (default 4 GB). */
  maxArchiveBytes: number;
  /** How long a client may take to send a whole request, headers and body (default 5 minutes); then 408. */
  requestTimeoutMs?: number;
  /** How often node looks for requests past that deadline (default 30 s; tests use less). */
  timeoutCheckIntervalMs?: number;
  log: (line: string) => void;
}

/**
 * The largest upload limit a server may be given: an archive's per-file limit, so every
 * sample the engine stores fits in the archive /get_state makes and /set_state accepts back.
 */
export const MAX_UPLOAD = DEFAULT_ARCHIVE_LIMITS.maxFileBytes;
export const DEFAULT_MAX_ARCHIVE = 4 * 1024 * 1024 * 1024;
export const DEFAULT_REQUEST_TIMEOUT_MS = 5 * 60_000;

interface RouteConfig {
  body: RequestBody;
  /** Set when this engine refuses the endpoint whatever the request (see refusalOf). */
  refusal?: () => TagsmithError;
}

export async function createServer(engine: TagsmithEngine, options: ServerOptions): Promise<FastifyInstance> {
  if (options.maxUploadBytes > MAX_UPLOAD) {
    throw new RangeError(
      `The upload limit (${formatBytes(options.maxUploadBytes)}) is above ${formatBytes(MAX_UPLOAD)}, the most a state archive takes for one file.`,
    );
  }
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const errorBody = (e: TagsmithError) => ({ error: e.toJSON() });
  let closing = false;
  const inFlight = new Set<FastifyReply>();

  const app = Fastify({
    logger: false,
    bodyLimit: NO_BODY_LIMIT,
    routerOptions: { maxParamLength: 300 },
    // HEAD would run GET handlers that act (GET /train starts training): answered 405 instead.
    exposeHeadRoutes: false,
    // Answered by the onRequest hook below, in the error contract.
    return503OnClosing: false,
    requestTimeout: requestTimeoutMs,
    // Node 20 arms its request timeout only from the options the server is created with;
    // fastify's requestTimeout alone, set on the server afterwards, is not enforced.
    http: {
      requestTimeout: requestTimeoutMs,
      headersTimeout: Math.min(60_000, requestTimeoutMs),
      connectionsCheckingInterval: options.timeoutCheckIntervalMs ?? 30_000,
    },
    // Malformed requests and timeouts, refused by node's HTTP parser before fastify sees them.
    clientErrorHandler: (error: NodeJS.ErrnoException, socket: Socket) => {
      // Once answered, the parser's further complaints about the same connection are moot.
      if (error.code === 'ECONNRESET' || socket.destroyed || isLingering(socket)) return;
      const e = clientErrorOf(error, requestTimeoutMs);
      options.log(`client error: ${e.status} ${e.code} (${error.code ?? error.message})`);
      const response = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
      if (!socket.writable || response?.headersSent) return void socket.destroy();
      socket.write(rawErrorResponse(e));
      lingeringClose(socket);
    },
    // Bad percent-encoding and over-long path parameters, refused by the router.
    frameworkErrors: (error, request, frameworkReply) => {
      const e = toTagsmithError(error, { body: 'none', limit: NO_BODY_LIMIT });
      options.log(`${request.method} ${request.url.slice(0, 200)} ${e.status}`);
      const raw = frameworkReply as unknown as FastifyReply;
      void raw.code(e.status).header('content-type', 'application/json; charset=utf-8').send(errorBody(e));
    },
  });
  IN_FLIGHT.set(app, inFlight);
  await app.register(multipart, {
    limits: { ...FORM_LIMITS, fileSize: options.maxUploadBytes, fieldSize: options.maxUploadBytes },
    fileHwm: PART_BUFFER_BYTES,
  });

  const routeBody = (request: FastifyRequest): RequestBody => (request.routeOptions.config as Partial<RouteConfig> | undefined)?.body ?? 'none';
  const routeLimit = (request: FastifyRequest): number => request.routeOptions.bodyLimit ?? NO_BODY_LIMIT;
  const context = (request: FastifyRequest): ErrorContext => ({ body: routeBody(request), limit: routeLimit(request) });

  // Raw bodies: images (and JSON) are buffered by fastify within the route's bodyLimit;
  // archives and octet streams are passed on as streams, counted against it as they arrive.
  app.addContentTypeParser(/^image\//, { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  app.addContentTypeParser(['application/x-tar', 'application/gzip', 'application/x-gzip', 'application/octet-stream'], (request, payload, done) => {
    const kind = routeBody(request);
    const limit = routeLimit(request);
    done(
      null,
      countedBody(payload, limit, () => tooLarge(kind, limit)),
    );
  });

  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (request, onRequestReply) => {
    if (closing) throw shuttingDown();
    inFlight.add(onRequestReply);
    onRequestReply.raw.once('close', () => inFlight.delete(onRequestReply));
    guardRequest(request.headers, options);
    const refusal = (request.routeOptions.config as Partial<RouteConfig> | undefined)?.refusal;
    if (refusal) throw refusal();
    const kind = routeBody(request);
    const endpoint = `${request.method} ${request.routeOptions.url ?? request.url.split('?')[0]}`;
    checkMediaType(request.headers, kind, endpoint);
    // Refuse an upload that says it is too large before reading a byte of it.
    const length = declaredLength(request.headers);
    const limit = routeLimit(request);
    const multipartBody = parseMediaType(request.headers['content-type'] ?? '')?.type === 'multipart/form-data';
    if (length !== undefined && length > limit + (multipartBody ? MULTIPART_OVERHEAD : 0)) throw tooLarge(kind, limit);
  });
  app.addHook('onSend', async (request, sendReply) => {
    // A body not read to its end cannot stay on a kept-alive connection: the client's next
    // request would start in the middle of it. Nothing more of it is parsed, and the
    // connection closes without losing this answer.
    if (!request.raw.complete) {
      sendReply.header('connection', 'close');
      stopReading(request.raw);
      lingerAfterAnswer(request.raw);
    }
  });
  app.addHook('onResponse', async (request, sendReply) => {
    options.log(`${request.method} ${request.url} ${sendReply.statusCode} ${sendReply.elapsedTime.toFixed(0)}ms`);
  });
  app.setErrorHandler(async (error, request, errorReply) => {
    const e = toTagsmithError(error, context(request));
    if (e.status >= 500) options.log(`error: ${e.message}${e.cause instanceof Error && e.cause.stack ? `\n${e.cause.stack}` : ''}`);
    // Refused before its body was read (busy, unauthorised, a bad tag): read and discard the
    // rest if it is not too big, so the client can finish sending and keep its connection;
    // otherwise onSend closes the connection. Kept alive with bytes unread, the rest of the
    // upload would be taken for the client's next request, which then hangs (bench:reliability's
    // set_state race found this). Too large or too slow: stop reading at once.
    if (!request.raw.complete && e.status !== 413 && e.status !== 408) await discardBody(request.raw, DISCARD_LIMIT_BYTES, DISCARD_TIMEOUT_MS);
    return errorReply.status(e.status).type('application/json').send(errorBody(e));
  });
  app.setNotFoundHandler(async (request, notFoundReply) => {
    const path = request.url.split('?')[0];
    const allowed = allowedMethods(path);
    if (allowed.length > 0) {
      notFoundReply.header('allow', allowed.join(', '));
      throw new TagsmithError(
        'method_not_allowed',
        `${request.method} is not allowed on ${path.slice(0, 200)}; use ${allowed.join(' or ')} (see /openapi.json).`,
      );
    }
    throw new TagsmithError('not_found', `No endpoint ${request.method} ${path.slice(0, 200)}; see /openapi.json.`);
  });

  const handlers = endpointHandlers(
    engine,
    (request: FastifyRequest, kind: 'image' | 'features') => readUpload(request, kind, routeLimit(request)),
    routeLimit,
  );

  for (const [name, endpoint] of Object.entries(ENDPOINTS) as [EndpointName, Endpoint][]) {
    // A replica refuses writes (and an owning engine a replica's reload) from the table's flags,
    // in the onRequest hook above: before the body's type or size is looked at, or a byte read.
    const refusal = refusalOf(endpoint, engine.readOnly);
    app.route({
      method: [...endpoint.methods],
      url: routerPath(endpoint.path),
      bodyLimit: bodyLimit(endpoint.body, options),
      config: { body: endpoint.body, refusal } satisfies RouteConfig as object,
      ...(endpoint.body === 'none' ? { preHandler: async (request: FastifyRequest) => discardUpload(request, NO_BODY_LIMIT) } : {}),
      // The one place the table's types meet fastify's untyped route: handlers are typed per endpoint.
      handler: handlers[name] as RouteHandlerMethod,
    });
  }
  // CONNECT (a proxy tunnel) goes to node's 'connect' event, whose default is to drop the connection.
  app.server.on('connect', (request: IncomingMessage, socket: Socket) => {
    const e = new TagsmithError('method_not_allowed', 'CONNECT is not allowed: this engine is not a proxy.');
    options.log(`${request.method} ${String(request.url).slice(0, 200)} ${e.status}`);
    socket.write(rawErrorResponse(e));
    lingeringClose(socket);
  });
  // A `100-continue` is answered by node; any other expectation would get node's bare 417.
  app.server.on('checkExpectation', (request: IncomingMessage, response) => {
    const e = new TagsmithError('expectation_failed', `This engine meets no "Expect: ${String(request.headers.expect).slice(0, 100)}"; only 100-continue.`);
    const body = JSON.stringify(errorBody(e));
    options.log(`${request.method} ${request.url} ${e.status}`);
    response
      .writeHead(e.status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' })
      .end(body);
  });
  return app;
}

/**
 * Stops taking connections and lets requests in flight finish for `graceMs`; then answers or
 * cuts off what is left (a trickling upload, a long download), so shutdown is bounded: at
 * most graceMs + answerMs. Requests that arrive meanwhile on open connections are answered
 * 503 shutting_down.
 */
export async function stopServer(app: FastifyInstance, graceMs: number, answerMs = 1_000): Promise<void> {
  const timers: NodeJS.Timeout[] = [];
  timers.push(
    setTimeout(() => {
      // Past the grace period: requests not yet answered (an upload still coming) are answered
      // 503 and their connections closed; answers under way (a long download) are cut off.
      for (const reply of IN_FLIGHT.get(app) ?? []) {
        if (reply.raw.headersSent) reply.raw.destroy();
        else void reply.code(503).header('content-type', 'application/json; charset=utf-8').send({ error: shuttingDown().toJSON() });
      }
      // Whoever has not gone once their answer had time to arrive is disconnected.
      timers.push(setTimeout(() => app.server.closeAllConnections(), answerMs));
    }, graceMs),
  );
  try {
    await app.close();
  } finally {
    for (const timer of timers) clearTimeout(timer);
  }
}

/** Why an engine refuses an endpoint outright, if it does: writes on a read-only replica, a reload on an engine that owns its state. */
function refusalOf(endpoint: Endpoint, readOnly: boolean): (() => TagsmithError) | undefined {
  const name = `${endpoint.methods.join('|')} ${endpoint.path}`;
  if (readOnly && endpoint.writes) {
    return () =>
      new TagsmithError(
        'read_only',
        `This engine is a read-only replica (tagsmith serve --read-only): ${name} would change its state, so it is refused. Send writes to the engine that owns the state, then reload the replicas with its archive.`,
      );
  }
  if (!readOnly && endpoint.replicaOnly) {
    return () =>
      new TagsmithError(
        'forbidden',
        `${name} reloads a read-only replica's snapshot; this engine owns its state folder (restore an archive with POST /set_state).`,
      );
  }
  return undefined;
}

/** Each server's requests whose answer has not finished, for stopServer. */
const IN_FLIGHT = new WeakMap<FastifyInstance, Set<FastifyReply>>();

function shuttingDown(): TagsmithError {
  return new TagsmithError('shutting_down', 'The engine is shutting down; try again when it has restarted.');
}

const ROUTE_PATTERNS = Object.values(ENDPOINTS).map((endpoint) => ({
  pattern: new RegExp(`^${endpoint.path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{\w+\}/g, '[^/]+')}$`),
  methods: endpoint.methods as readonly HttpMethod[],
}));

/** The methods some endpoint takes at this path (none: the path is unknown). */
function allowedMethods(path: string): HttpMethod[] {
  const methods = new Set<HttpMethod>();
  for (const route of ROUTE_PATTERNS) if (route.pattern.test(path)) for (const m of route.methods) methods.add(m);
  return [...methods];
}

/** Bodies up to this size are read to their end after an early error; bigger ones close the connection. */
const DISCARD_LIMIT_BYTES = 64 * 1024 * 1024;
const DISCARD_TIMEOUT_MS = 10_000;

/** Reads a request body to its end and throws it away, within a size and a time limit. */
function discardBody(body: IncomingMessage, limitBytes: number, timeoutMs: number): Promise<void> {
  const declared = Number(body.headers['content-length']);
  if (!Number.isFinite(declared) || declared > limitBytes) return Promise.resolve();
  // Whatever parser it was piped to is done with it.
  body.unpipe();
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
