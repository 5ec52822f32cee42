// Getting the `data` upload out of a request, the SDK's way (multipart field `data`, as
// curl -F and Python requests send it) or raw (an image/* or tar body).
import { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { TagsmithError } from '../errors';

export const UPLOAD_FIELD = 'data';

export interface Upload {
  bytes: Buffer;
  fileName?: string;
}

const missing = () =>
  new TagsmithError('missing_field', `Send the file in the multipart form field "${UPLOAD_FIELD}" (curl -F "${UPLOAD_FIELD}=@file") or as the raw request body.`);

/** Buffers the upload (images and feature documents, bounded by the route's limit). */
export async function readUpload(request: FastifyRequest, limit: number): Promise<Upload> {
  if (request.isMultipart()) {
    for await (const part of request.parts()) {
      if (part.fieldname !== UPLOAD_FIELD) {
        if (part.type === 'file') part.file.resume();
        continue;
      }
      if (part.type === 'field') return { bytes: Buffer.from(String(part.value)) };
      const bytes = await part.toBuffer();
      return { bytes, fileName: part.filename || undefined };
    }
    throw missing();
  }
  const body = request.body;
  if (Buffer.isBuffer(body)) {
    if (body.length === 0) throw missing();
    return { bytes: body };
  }
  if (body instanceof Readable) return { bytes: await readAll(body, limit) };
  throw missing();
}

/** Hands the upload over as a stream (archives can be large); `use` must consume it. */
export async function withUploadStream<T>(request: FastifyRequest, use: (stream: Readable) => Promise<T>): Promise<T> {
  if (request.isMultipart()) {
    for await (const part of request.parts()) {
      if (part.fieldname !== UPLOAD_FIELD || part.type !== 'file') {
        if (part.type === 'file') part.file.resume();
        continue;
      }
      const result = await use(part.file);
      if (part.file.truncated) throw new TagsmithError('payload_too_large', 'The upload is larger than this engine accepts.');
      return result;
    }
    throw missing();
  }
  if (request.body instanceof Readable) return use(request.body);
  if (Buffer.isBuffer(request.body) && request.body.length > 0) return use(Readable.from([request.body]));
  throw missing();
}

async function readAll(stream: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      stream.destroy();
      throw new TagsmithError('payload_too_large', `The upload is larger than ${limit} bytes.`);
    }
    chunks.push(chunk as Buffer);
  }
  if (size === 0) throw missing();
  return Buffer.concat(chunks);
}
