// What a request may send, and how much of it. Each endpoint's body kind (api/endpoints.ts)
// sets the media types it takes and its byte limit: images and feature documents the upload
// limit, archives the archive limit, endpoints without a body a small allowance. Bytes are
// counted as they arrive, whatever the framing (Content-Length or chunked), and reading stops
// at the limit; the request is then answered 413 and its connection closed.
import type { IncomingMessage, IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { Transform, type Readable } from 'node:stream';
import { BODY_MEDIA_TYPES, type RequestBody } from '../api/endpoints';
import { TagsmithError } from '../errors';

export interface BodyLimits {
  /** Largest image or features upload, bytes. */
  maxUploadBytes: number;
  /** Largest state archive upload, bytes. */
  maxArchiveBytes: number;
}

/** A body sent to an endpoint that takes none is ignored, up to this size. */
export const NO_BODY_LIMIT = 64 * 1024;
/** A JSON request (a scan's paths, a sidecar action): twenty thousand long paths fit. */
export const JSON_BODY_LIMIT = 4 * 1024 * 1024;

/** How many parts a form may have: the SDK sends one; a few more are tolerated and skipped. */
export const FORM_LIMITS = { files: 4, fields: 16, parts: 32 };

/** What multipart framing (boundaries, part headers, a few small fields) may add to the file it carries. */
export const MULTIPART_OVERHEAD = 64 * 1024;

export function bodyLimit(kind: RequestBody, limits: BodyLimits): number {
  if (kind === 'archive') return limits.maxArchiveBytes;
  if (kind === 'none') return NO_BODY_LIMIT;
  if (kind === 'json') return JSON_BODY_LIMIT;
  return limits.maxUploadBytes;
}

/** 5 MB, 4 GB, 64 KB: as --max-upload-mb counts (2^20 bytes to the MB). */
export function formatBytes(bytes: number): string {
  const units: [number, string][] = [
    [2 ** 30, 'GB'],
    [2 ** 20, 'MB'],
    [2 ** 10, 'KB'],
  ];
  for (const [size, unit] of units) if (bytes >= size) return `${Number((bytes / size).toFixed(1))} ${unit}`;
  return `${bytes} bytes`;
}

const NOUNS: Record<RequestBody, string> = {
  image: 'an image',
  features: 'a features document',
  json: 'a JSON request',
  archive: 'a state archive',
  none: 'a request to this endpoint, which takes no body',
};

export function tooLarge(kind: RequestBody, limit: number): TagsmithError {
  const hint = kind === 'image' || kind === 'features' ? ' (tagsmith serve --max-upload-mb sets it)' : '';
  return new TagsmithError('payload_too_large', `The upload is larger than ${formatBytes(limit)}, the most this engine accepts for ${NOUNS[kind]}${hint}.`);
}

const HOW_TO_SEND: Record<Exclude<RequestBody, 'none'>, string> = {
  image: 'an image: the multipart form field "data" (curl -F "data=@photo.jpg") or a raw image/* or application/octet-stream body',
  features: 'a features document: the multipart form field "data" (curl -F "data=@features.json") or a raw application/json body',
  archive: 'a state archive: the multipart form field "data" (curl -F "data=@state.tar") or a raw application/x-tar or application/gzip body',
  json: 'a JSON body (Content-Type: application/json)',
};

interface MediaType {
  type: string;
  params: Map<string, string>;
}

/** `type/subtype; name=value; …`, or undefined when the header is not a media type. */
export function parseMediaType(header: string): MediaType | undefined {
  const [head, ...rest] = header.split(';');
  const type = head.trim().toLowerCase();
  if (!/^[\w!#$&^.+-]+\/[\w!#$&^.+-]+$/.test(type)) return undefined;
  const params = new Map<string, string>();
  for (const param of rest) {
    const eq = param.indexOf('=');
    if (eq < 0) continue;
    const value = param.slice(eq + 1).trim();
    params.set(param.slice(0, eq).trim().toLowerCase(), value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value);
  }
  return { type, params };
}

function hasBody(headers: IncomingHttpHeaders): boolean {
  return headers['transfer-encoding'] !== undefined || (headers['content-length'] !== undefined && headers['content-length'] !== '0');
}

/**
 * Refuses, before a byte of it is read, a body the endpoint cannot take: 415 for a media type
 * it does not read (or none at all) or a compressed body, 400 for multipart without a usable
 * boundary.
 */
export function checkMediaType(headers: IncomingHttpHeaders, kind: RequestBody, endpoint: string): void {
  if (kind === 'none') return;
  const encoding = headers['content-encoding'];
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
    throw new TagsmithError(
      'unsupported_media_type',
      `${endpoint} reads bodies as they are; Content-Encoding ${JSON.stringify(encoding.slice(0, 40))} is not supported.`,
    );
  }
  const header = headers['content-type'];
  if (header === undefined) {
    if (!hasBody(headers)) return; // no body at all: the handler says which field is missing
    throw new TagsmithError('unsupported_media_type', `${endpoint} takes ${HOW_TO_SEND[kind]}; the request has a body but no Content-Type.`);
  }
  const media = parseMediaType(header);
  const accepted = BODY_MEDIA_TYPES[kind] as readonly string[];
  const matches = media && accepted.some((a) => (a.endsWith('/*') ? media.type.startsWith(a.slice(0, -1)) : media.type === a));
  if (!matches) {
    throw new TagsmithError('unsupported_media_type', `${endpoint} takes ${HOW_TO_SEND[kind]}; got Content-Type ${JSON.stringify(header.slice(0, 100))}.`);
  }
  if (media.type === 'multipart/form-data') {
    const boundary = media.params.get('boundary') ?? '';
    // RFC 2046: 1 to 70 characters.
    if (boundary.length < 1 || boundary.length > 70) {
      throw new TagsmithError(
        'bad_request',
        'A multipart/form-data body needs a boundary parameter of 1 to 70 characters in its Content-Type (curl -F and form libraries add it).',
      );
    }
  }
}

/** The bytes a request declares, when it declares them. */
export function declaredLength(headers: IncomingHttpHeaders): number | undefined {
  const length = Number(headers['content-length']);
  return headers['content-length'] !== undefined && Number.isFinite(length) ? length : undefined;
}

/**
 * Stops taking bytes from a request whose answer is decided: it is no longer fed to any
 * parser, and what still arrives is dropped until the connection, told to close, goes.
 */
export function stopReading(raw: IncomingMessage): void {
  raw.unpipe();
  raw.resume();
}

/**
 * The request body as a stream that errors with `onLimit()` once more than `limit` bytes have
 * come. The request itself is never destroyed, so its connection can still carry the answer.
 */
export function countedBody(raw: IncomingMessage, limit: number, onLimit: () => TagsmithError): Readable {
  let received = 0;
  let refused = false;
  const counted = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      received += chunk.length;
      if (received <= limit) return callback(null, chunk);
      refused = true;
      stopReading(raw);
      callback(onLimit());
    },
  });
  raw.on('error', (error) => counted.destroy(error));
  raw.on('close', () => {
    if (!raw.complete) counted.destroy(clientGone());
  });
  // Unpiped before the end: the request was answered (stopReading) while its handler still
  // reads; fail the handler's stream now rather than leave it waiting for the connection to go.
  counted.on('unpipe', () => {
    if (!raw.complete && !refused) counted.destroy(new TagsmithError('bad_request', 'The request was answered before its body was read to its end.'));
  });
  raw.pipe(counted);
  return counted;
}

/**
 * Runs `work`, which must start reading `raw` in its first synchronous step (a multipart parser
 * piped from it), with a budget of `limit` bytes: past it, reading stops and the returned
 * promise rejects with `onLimit()` at once, whatever `work` is waiting for.
 */
export async function withByteBudget<T>(raw: IncomingMessage, limit: number, onLimit: () => TagsmithError, work: () => Promise<T>): Promise<T> {
  let received = 0;
  let refuse!: (error: TagsmithError) => void;
  const refused = new Promise<never>((_resolve, reject) => {
    refuse = reject;
  });
  const onData = (chunk: Buffer) => {
    received += chunk.length;
    if (received <= limit) return;
    raw.off('data', onData);
    stopReading(raw);
    refuse(onLimit());
  };
  const working = work();
  // Counting alongside the parser's pipe: a listener added now sees every chunk it sees.
  if (raw.readableFlowing !== true && !raw.readableEnded) throw new Error('withByteBudget: work() did not start reading the request');
  raw.on('data', onData);
  // Losing the race (the budget ran out) leaves `working` to fail when the connection closes.
  working.catch(() => undefined);
  try {
    return await Promise.race([working, refused]);
  } finally {
    raw.off('data', onData);
  }
}

/** How long a connection closed on an unfinished upload keeps taking (and dropping) bytes. */
export const LINGER_MS = 2_000;
/** …and how many at most. */
export const LINGER_BYTES = 16 * 1024 * 1024;

const lingering = new WeakSet<Socket>();

/**
 * Closes a connection without losing the answer just written to it. Closed while the client
 * is still sending, a socket with unread bytes is reset, and the reset makes the client's
 * system drop the answer before the client reads it. So the connection is half-closed and
 * what still arrives is read and dropped until the client closes its side (it has the answer)
 * or LINGER_MS / LINGER_BYTES pass: nginx's lingering close. Node has none.
 */
export function lingeringClose(socket: Socket): void {
  if (lingering.has(socket) || socket.destroyed) return;
  lingering.add(socket);
  let received = 0;
  socket.on('data', (chunk: Buffer) => {
    received += chunk.length;
    if (received > LINGER_BYTES) socket.destroy();
  });
  // Not unref'd: a lingering connection ends within LINGER_MS, and is ended for sure.
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  socket.once('close', () => clearTimeout(timer));
  socket.end();
  // The HTTP server stops reading a socket whose request body nobody consumes, in a way
  // resume() does not undo (its parser owned the socket): restart reading as node's own
  // onSocketResume does, to see the rest of the upload and the client's close.
  const handle = (socket as Socket & { _handle?: { reading?: boolean; readStart?: () => number } })._handle;
  if (handle?.readStart && !handle.reading) {
    handle.reading = true;
    handle.readStart();
  }
}

/** Whether `lingeringClose` already took this connection (its answer is out). */
export function isLingering(socket: Socket): boolean {
  return lingering.has(socket);
}

/**
 * Makes node close this request's connection by `lingeringClose` once the answer is out,
 * instead of destroying it (what node does after a Connection: close answer).
 */
export function lingerAfterAnswer(raw: IncomingMessage): void {
  const socket = raw.socket as Socket & { destroySoon?: () => void };
  if (!socket || socket.destroyed) return;
  socket.destroySoon = () => lingeringClose(socket);
}

/** The client went away before sending the whole request: its fault, and nobody hears the answer. */
export function clientGone(): TagsmithError {
  return new TagsmithError('bad_request', 'The client closed the connection before sending the whole request.');
}
