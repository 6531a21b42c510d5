/**
 * The service's error hierarchy. Every error a client or an operator can meet
 * carries a stable `code`; the HTTP layer maps `status`, the worker decides
 * retry vs. permanent failure from `retryable`.
 */
export type ErrorCode =
  | 'NOT_FOUND'
  | 'VALIDATION_FAILED'
  | 'BAD_AUDIO'
  | 'CONFLICT'
  | 'UNAVAILABLE'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'STALE_WRITE'
  | 'QUEUE_REFUSED'
  | 'INSUFFICIENT_STORAGE'
  | 'RATE_LIMITED'
  | 'INTERNAL';

export interface AppErrorOptions {
  cause?: unknown;
  /** Extra, client-safe fields for the error body (never job data or stacks). */
  details?: Record<string, unknown>;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, status: number, message: string, options: AppErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    this.details = options.details;
  }
}

export class NotFoundError extends AppError {
  constructor(message: string, options?: AppErrorOptions) {
    super('NOT_FOUND', 404, message, options);
  }
}

export class ValidationError extends AppError {
  constructor(message: string, options?: AppErrorOptions) {
    super('VALIDATION_FAILED', 400, message, options);
  }
}

/** The input is not decodable audio: empty, truncated, corrupt, or not audio at all. Never worth a retry. */
export class BadAudioError extends AppError {
  constructor(message: string, options?: AppErrorOptions) {
    super('BAD_AUDIO', 400, message, options);
  }
}

export class ConflictError extends AppError {
  constructor(message: string, options?: AppErrorOptions) {
    super('CONFLICT', 409, message, options);
  }
}

/** A dependency (Redis, MongoDB, the model) cannot be reached right now; worth a retry later. */
export class UnavailableError extends AppError {
  constructor(message: string, options?: AppErrorOptions) {
    super('UNAVAILABLE', 503, message, options);
  }
}

export class UnauthorizedError extends AppError {
  constructor(message = 'missing or invalid API key', options?: AppErrorOptions) {
    super('UNAUTHORIZED', 401, message, options);
  }
}

/** The key is valid but may not do this (a project key outside its project, or on an admin route). */
export class ForbiddenError extends AppError {
  constructor(message: string, options?: AppErrorOptions) {
    super('FORBIDDEN', 403, message, options);
  }
}

export class PayloadTooLargeError extends AppError {
  constructor(message: string, options?: AppErrorOptions) {
    super('PAYLOAD_TOO_LARGE', 413, message, options);
  }
}

export class UnsupportedMediaTypeError extends AppError {
  constructor(message: string, options?: AppErrorOptions) {
    super('UNSUPPORTED_MEDIA_TYPE', 415, message, options);
  }
}

/** A folder (uploads, decoded audio) lacks the space the work needs; worth a retry once space returns. */
export class InsufficientStorageError extends AppError {
  constructor(message: string, options?: AppErrorOptions) {
    super('INSUFFICIENT_STORAGE', 507, message, options);
  }
}

/**
 * The API key is over its request rate, or has as many uploads in flight as
 * it may: answered 429 with `Retry-After: retryAfterSec`. Nothing was done.
 */
export class RateLimitedError extends AppError {
  /** Whole seconds after which the same request can succeed (at least 1). */
  readonly retryAfterSec: number;

  constructor(message: string, retryAfterSec: number, options?: AppErrorOptions) {
    super('RATE_LIMITED', 429, message, options);
    this.retryAfterSec = Math.max(1, Math.ceil(retryAfterSec));
  }
}

/**
 * A write carried an epoch older than the meeting's current one: the writer
 * lost its job to another worker (a zombie) and must stop.
 */
export class StaleWriteError extends AppError {
  constructor(message: string, options?: AppErrorOptions) {
    super('STALE_WRITE', 409, message, options);
  }
}

/** Always returns an Error, keeping a non-Error throw as `cause`. */
export function coerceError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  const message = typeof thrown === 'string' ? thrown : `non-error thrown: ${safeString(thrown)}`;
  return new Error(message, { cause: thrown });
}

function safeString(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** An absolute POSIX path (two or more components) or a file: URL inside a message; not the path of an http(s) URL. */
const SERVER_PATH = /(?<![\w.~:/-])(?:file:\/\/)?\/(?:[^\s/'"`()<>,;:]+\/)+[^\s/'"`()<>,;:]*/g;

/**
 * A failure message as clients may see it (meeting `error.errorMessage`, job
 * `failedReason`): server paths replaced by `<server path>`, the rest kept.
 * The full message stays in the logs.
 */
export function clientSafeMessage(message: string): string {
  return message.replace(SERVER_PATH, '<server path>');
}
