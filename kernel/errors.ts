// Every failure a user can cause has a code. The HTTP layer maps codes to statuses, the
// extension maps them to messages; `cause` keeps the original error for the log.
export const ERROR_STATUS = {
  bad_request: 400,
  missing_field: 400,
  invalid_tag: 400,
  invalid_option: 400,
  invalid_features: 400,
  invalid_archive: 400,
  invalid_sidecar: 400,
  not_enough_samples: 400,
  not_an_image: 415,
  unsupported_media_type: 415,
  unauthorized: 401,
  forbidden: 403,
  read_only: 403,
  unknown_tag: 404,
  unknown_task: 404,
  unknown_sample: 404,
  unknown_scan: 404,
  not_found: 404,
  method_not_allowed: 405,
  request_timeout: 408,
  conflicting_sample: 409,
  busy: 409,
  state_in_use: 409,
  image_too_large: 413,
  payload_too_large: 413,
  uri_too_long: 414,
  expectation_failed: 417,
  headers_too_large: 431,
  interrupted: 500,
  cancelled: 409,
  internal: 500,
  shutting_down: 503,
  redis_unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class TagsmithError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TagsmithError';
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }

  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

/** Wraps anything thrown into a TagsmithError; unknown errors are bugs (`internal`). */
export function asTagsmithError(error: unknown): TagsmithError {
  if (error instanceof TagsmithError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new TagsmithError('internal', message, { cause: error });
}
