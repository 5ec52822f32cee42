// Every error leaves the server as {"error": {"code", "message"}} with the status the code
// implies; framework errors (body too large, bad JSON, unknown route) are mapped to codes.
import type { FastifyError } from 'fastify';
import { asTagsmithError, TagsmithError, type ErrorCode } from '../errors';

const FRAMEWORK_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_REQ_FILE_TOO_LARGE: 'payload_too_large',
  FST_PARTS_LIMIT: 'payload_too_large',
  FST_FILES_LIMIT: 'payload_too_large',
  FST_FIELDS_LIMIT: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_request',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_features',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_features',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'bad_request',
  FST_ERR_VALIDATION: 'bad_request',
};

export function toTagsmithError(error: unknown): TagsmithError {
  if (error instanceof TagsmithError) return error;
  const e = error as Partial<FastifyError> & { statusCode?: number };
  const mapped = e.code ? FRAMEWORK_CODES[e.code] : undefined;
  if (mapped === 'payload_too_large') return new TagsmithError(mapped, 'The upload is larger than this engine accepts (50 MB for images by default).', { cause: error });
  if (mapped === 'invalid_features') return new TagsmithError(mapped, `The features document is not valid JSON (${e.message}).`, { cause: error });
  if (mapped) return new TagsmithError(mapped, e.message ?? 'Bad request.', { cause: error });
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    // Malformed multipart and the like: the client's fault, said in the framework's words.
    return new TagsmithError('bad_request', e.message ?? 'Bad request.', { cause: error });
  }
  return asTagsmithError(error);
}
