/**
 * The one place where errors become HTTP responses. Every error body is
 * `{ error: { code, message } }` with a stable code; stacks, causes and job
 * data never leave the process (they go to the log).
 */
import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { MongoNetworkError, MongoServerSelectionError, MongoTopologyClosedError } from 'mongodb';
import { AppError, clientSafeMessage, type ErrorCode, RateLimitedError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { AppEnv } from '../env.js';
import { openAiErrorBody } from '../routes/openai.routes.js';

/** The error envelope of every non-2xx JSON answer. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: Record<string, unknown> };
}

/** Seconds a client should wait before retrying after a 503. */
export const RETRY_AFTER_SEC = 5;

const CODE_BY_STATUS: Record<number, ErrorCode> = {
  400: 'VALIDATION_FAILED',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
  503: 'UNAVAILABLE',
};

interface Mapped {
  status: ContentfulStatusCode;
  body: ErrorBody;
  /** For a 429: whole seconds until the request can succeed (the `Retry-After` header). */
  retryAfterSec?: number;
}

/** Maps any thrown value to a status and envelope; unknown errors become a bare 500. */
export function toErrorResponse(err: unknown): Mapped {
  if (err instanceof AppError) {
    // Messages may quote a server path (a decoder's, the storage folder's): clients get it masked.
    const error: ErrorBody['error'] = { code: err.code, message: clientSafeMessage(err.message) };
    if (err.details) error.details = err.details;
    const mapped: Mapped = { status: err.status as ContentfulStatusCode, body: { error } };
    if (err instanceof RateLimitedError) mapped.retryAfterSec = err.retryAfterSec;
    return mapped;
  }
  if (err instanceof HTTPException) {
    const code = CODE_BY_STATUS[err.status] ?? (err.status >= 500 ? 'INTERNAL' : 'VALIDATION_FAILED');
    return { status: err.status as ContentfulStatusCode, body: { error: { code, message: err.message || 'request refused' } } };
  }
  if (err instanceof MongoServerSelectionError || err instanceof MongoNetworkError || err instanceof MongoTopologyClosedError) {
    return { status: 503, body: { error: { code: 'UNAVAILABLE', message: 'database unavailable' } } };
  }
  return { status: 500, body: { error: { code: 'INTERNAL', message: 'internal error' } } };
}

/** Sends an error envelope, adding the headers its status calls for. */
export function errorResponse(c: Context, mapped: Mapped): Response {
  if (mapped.status === 503) c.header('Retry-After', String(RETRY_AFTER_SEC));
  if (mapped.status === 429) c.header('Retry-After', String(mapped.retryAfterSec ?? 1));
  if (mapped.status === 401) c.header('WWW-Authenticate', 'Bearer');
  if (mapped.status === 413) c.header('Connection', 'close');
  // OpenAI clients read OpenAI's envelope (error.type, error.code in lower case).
  if (c.req.path.startsWith('/v1/')) return c.json(openAiErrorBody(mapped.body, mapped.status), mapped.status);
  return c.json(mapped.body, mapped.status);
}

/** `app.onError`: client errors are logged at info, server errors with their stack at error. */
export function errorHandler(logger: Logger): ErrorHandler<AppEnv> {
  return (err, c) => {
    const mapped = toErrorResponse(err);
    const log = c.get('logger') ?? logger;
    if (mapped.status >= 500) log.error({ err }, 'request failed');
    else log.debug({ code: mapped.body.error.code, message: mapped.body.error.message }, 'request refused');
    return errorResponse(c, mapped);
  };
}

export const notFoundHandler: NotFoundHandler = (c) =>
  c.json({ error: { code: 'NOT_FOUND', message: `no route for ${c.req.method} ${c.req.path}` } } satisfies ErrorBody, 404);
