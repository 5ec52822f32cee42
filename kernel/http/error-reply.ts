// Every error leaves the server as {"error": {"code", "message"}} with the status the code
// implies. Errors of the framework (fastify, @fastify/multipart, busboy) and of node's HTTP
// parser are mapped here to codes, with messages that say what was wrong with the request.
import { STATUS_CODES } from 'node:http';
import type { FastifyError } from 'fastify';
import type { RequestBody } from '../api/endpoints';
import { asTagsmithError, TagsmithError } from '../errors';
import { clientGone, FORM_LIMITS, tooLarge } from './request-body';

/** What the error handler knows of the request an error came from. */
export interface ErrorContext {
  body: RequestBody;
  /** The endpoint's byte limit. */
  limit: number;
}

type CodedError = Partial<FastifyError> & { statusCode?: number; code?: string };

/** Errors raised while reading a multipart body: limits, malformed forms, cut-off bodies. */
export function multipartError(error: unknown): TagsmithError {
  if (error instanceof TagsmithError) return error;
  const e = error as CodedError;
  const { files, fields, parts } = FORM_LIMITS;
  switch (e.code) {
    case 'FST_PARTS_LIMIT':
      return new TagsmithError('payload_too_large', `The form has more than ${parts} parts; send the file alone in the field "data".`, { cause: error });
    case 'FST_FILES_LIMIT':
      return new TagsmithError('payload_too_large', `The form has more than ${files} files; send one, in the field "data".`, { cause: error });
    case 'FST_FIELDS_LIMIT':
      return new TagsmithError('payload_too_large', `The form has more than ${fields} fields besides its files; send the file alone in the field "data".`, {
        cause: error,
      });
    case 'FST_PROTO_VIOLATION':
      return new TagsmithError('bad_request', 'A form field is named after a JavaScript object property (such as __proto__); name the file\'s field "data".', {
        cause: error,
      });
    case 'FST_INVALID_JSON_FIELD_ERROR':
      return new TagsmithError('bad_request', 'A form field declared as application/json does not hold valid JSON.', { cause: error });
    case 'FST_MP_PREMATURE_CLOSE':
    case 'ECONNRESET':
    case 'ERR_STREAM_PREMATURE_CLOSE':
      return clientGone();
  }
  const message = error instanceof Error ? error.message : String(error);
  if (/unexpected end of (multipart|form)|terminated early/i.test(message)) {
    return new TagsmithError('bad_request', 'The multipart body ends before its closing boundary: it was cut short.', { cause: error });
  }
  if (/boundary not found/i.test(message)) {
    return new TagsmithError('bad_request', 'A multipart/form-data body needs a boundary parameter in its Content-Type.', { cause: error });
  }
  if (message === 'aborted') return clientGone();
  // Whatever else busboy refuses is a malformed form, said in its words.
  return new TagsmithError('bad_request', `The multipart body is malformed (${message}).`, { cause: error });
}

/** Any error thrown while serving a request, as the TagsmithError to answer. */
export function toTagsmithError(error: unknown, context: ErrorContext): TagsmithError {
  if (error instanceof TagsmithError) return error;
  const e = error as CodedError;
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_REQ_FILE_TOO_LARGE':
      return withCause(tooLarge(context.body, context.limit), error);
    case 'FST_PARTS_LIMIT':
    case 'FST_FILES_LIMIT':
    case 'FST_FIELDS_LIMIT':
    case 'FST_PROTO_VIOLATION':
    case 'FST_INVALID_JSON_FIELD_ERROR':
    case 'FST_MP_PREMATURE_CLOSE':
      return multipartError(error);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new TagsmithError(
        'unsupported_media_type',
        `This endpoint does not read bodies of type ${JSON.stringify(String(e.message ?? '').replace(/^Unsupported Media Type:?\s*/, '') || 'unknown')}.`,
        { cause: error },
      );
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new TagsmithError('bad_request', 'The body is not as long as its Content-Length says.', { cause: error });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return badJson(e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'it is empty' : (e.message ?? 'it does not parse'), context, error);
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return new TagsmithError('bad_request', 'This request is not multipart/form-data.', { cause: error });
    case 'FST_ERR_BAD_URL':
      return new TagsmithError('bad_request', 'The path is not valid percent-encoding (a % must be followed by the hex digits of UTF-8 bytes).', {
        cause: error,
      });
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new TagsmithError('uri_too_long', 'A part of the path is longer than any tag, sample or task id can be.', { cause: error });
    case 'FST_ERR_VALIDATION':
      return new TagsmithError('bad_request', e.message ?? 'Bad request.', { cause: error });
    case 'ECONNRESET':
    case 'ERR_STREAM_PREMATURE_CLOSE':
      return clientGone();
  }
  if (error instanceof Error && error.message === 'aborted') return clientGone();
  // JSON.parse of a body (fastify's parser; secure-json-parse's prototype poisoning check).
  if (error instanceof SyntaxError && e.statusCode === 400) return badJson(error.message, context, error);
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new TagsmithError('bad_request', e.message ?? 'Bad request.', { cause: error });
  }
  return asTagsmithError(error);
}

function badJson(why: string, context: ErrorContext, cause: unknown): TagsmithError {
  if (context.body === 'features')
    return new TagsmithError('invalid_features', `The features document is not valid JSON (${why}); send what /get_features returned.`, { cause });
  return new TagsmithError('bad_request', `The JSON body is not valid (${why}).`, { cause });
}

function withCause(error: TagsmithError, cause: unknown): TagsmithError {
  return new TagsmithError(error.code, error.message, { cause });
}

/**
 * A malformed request node's HTTP parser refused, or one that took too long to arrive: there
 * is no request object to answer through, so the answer is written to the socket.
 */
export function clientErrorOf(error: NodeJS.ErrnoException & { reason?: string }, requestTimeoutMs: number): TagsmithError {
  switch (error.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new TagsmithError(
        'request_timeout',
        `The request did not arrive whole within ${Math.round(requestTimeoutMs / 1000)} s; send it faster or in smaller pieces.`,
        { cause: error },
      );
    case 'HPE_HEADER_OVERFLOW':
      return new TagsmithError('headers_too_large', 'The request line and headers are larger than 16 KB.', { cause: error });
    case 'HPE_INVALID_EOF_STATE':
      return withCause(clientGone(), error);
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return new TagsmithError('bad_request', 'The chunked body carries chunk extensions larger than 16 KB.', { cause: error });
  }
  return new TagsmithError('bad_request', `Malformed HTTP request (${error.reason ?? error.message}).`, { cause: error });
}

/** A complete HTTP/1.1 response carrying `error`, for writing straight to a socket. */
export function rawErrorResponse(error: TagsmithError): string {
  const body = JSON.stringify({ error: error.toJSON() });
  return [
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? 'Error'}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}
