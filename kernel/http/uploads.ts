// Getting the `data` upload out of a request, the SDK's way (multipart field `data`, as
// curl -F and Python requests send it) or raw (an image/*, JSON or tar body). Every way is
// held to the endpoint's byte limit while it streams (see request-body.ts).
import { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import type { RequestBody } from '../api/endpoints';
import { TagsmithError } from '../errors';
import { multipartError } from './error-reply';
import { FORM_LIMITS, MULTIPART_OVERHEAD, tooLarge, withByteBudget } from './request-body';

export const UPLOAD_FIELD = 'data';

/**
 * @fastify/busboy stalls for good on a skipped part (no or a malformed Content-Disposition, a
 * bare CR in a header) whose data and closing boundary come in one chunk larger than its
 * buffer: the request would never be answered. Sockets deliver at most 64 KB at a time, so a
 * part buffer of 1 MB never fills from one chunk.
 */
export const PART_BUFFER_BYTES = 1024 * 1024;

export interface Upload {
  bytes: Buffer;
  fileName?: string;
}

export type UploadKind = Exclude<RequestBody, 'none'>;

const missing = () =>
  new TagsmithError(
    'missing_field',
    `Send the file in the multipart form field "${UPLOAD_FIELD}" (curl -F "${UPLOAD_FIELD}=@file") or as the raw request body.`,
  );

function multipartOptions(limit: number) {
  return { limits: { ...FORM_LIMITS, fileSize: limit, fieldSize: limit }, fileHwm: PART_BUFFER_BYTES };
}

/** Buffers the upload (images and feature documents), at most `limit` bytes. */
export async function readUpload(request: FastifyRequest, kind: UploadKind, limit: number): Promise<Upload> {
  if (request.isMultipart()) {
    return withByteBudget(
      request.raw,
      limit + MULTIPART_OVERHEAD,
      () => tooLarge(kind, limit),
      async () => {
        try {
          for await (const part of request.parts(multipartOptions(limit))) {
            if (part.fieldname !== UPLOAD_FIELD) {
              if (part.type === 'file') part.file.resume();
              continue;
            }
            if (part.type === 'field') {
              if (part.valueTruncated) throw tooLarge(kind, limit);
              // A field sent as application/json arrives parsed.
              const value = typeof part.value === 'string' ? part.value : JSON.stringify(part.value);
              return { bytes: Buffer.from(value) };
            }
            return { bytes: await readPart(part.file, limit, () => tooLarge(kind, limit)), fileName: part.filename || undefined };
          }
        } catch (error) {
          throw multipartError(error);
        }
        throw missing();
      },
    );
  }
  const body = request.body;
  if (Buffer.isBuffer(body)) {
    if (body.length === 0) throw missing();
    return { bytes: body };
  }
  // A raw octet stream, already counted against the limit by its content-type parser.
  if (body instanceof Readable) return { bytes: await readAll(body) };
  throw missing();
}

/** Hands the upload over as a stream (archives can be large); `use` must consume it. */
export async function withUploadStream<T>(request: FastifyRequest, limit: number, use: (stream: Readable) => Promise<T>): Promise<T> {
  if (request.isMultipart()) {
    return withByteBudget(
      request.raw,
      limit + MULTIPART_OVERHEAD,
      () => tooLarge('archive', limit),
      async () => {
        let file: (Readable & { truncated?: boolean }) | undefined;
        try {
          for await (const part of request.parts(multipartOptions(limit))) {
            if (part.fieldname === UPLOAD_FIELD && part.type === 'file') {
              file = part.file;
              break;
            }
            if (part.type === 'file') part.file.resume();
          }
        } catch (error) {
          throw multipartError(error);
        }
        if (!file) throw missing();
        // Past the limit busboy would quietly cut the file short: fail the stream instead.
        const upload = file;
        upload.once('limit', () => upload.destroy(tooLarge('archive', limit)));
        return use(upload);
      },
    );
  }
  if (request.body instanceof Readable) return use(request.body);
  throw missing();
}

/**
 * Reads and drops a body sent to an endpoint that takes none, within `limit`: a small one
 * leaves the connection usable, a large one is refused like any upload over its limit.
 */
export async function discardUpload(request: FastifyRequest, limit: number): Promise<void> {
  if (request.isMultipart()) {
    await withByteBudget(
      request.raw,
      limit,
      () => tooLarge('none', limit),
      async () => {
        try {
          for await (const part of request.parts(multipartOptions(limit))) if (part.type === 'file') part.file.resume();
        } catch (error) {
          throw multipartError(error);
        }
      },
    );
  } else if (request.body instanceof Readable) {
    for await (const _chunk of request.body) {
      // counted against the limit by its content-type parser
    }
  }
}

/** A multipart file part's bytes, failing as soon as it passes `limit`. */
async function readPart(file: Readable, limit: number, onLimit: () => TagsmithError): Promise<Buffer> {
  const stop = () => file.destroy(onLimit());
  file.once('limit', stop);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of file) {
      size += (chunk as Buffer).length;
      if (size > limit) throw onLimit();
      chunks.push(chunk as Buffer);
    }
  } finally {
    file.off('limit', stop);
  }
  return Buffer.concat(chunks);
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  if (chunks.length === 0) throw missing();
  return Buffer.concat(chunks);
}
