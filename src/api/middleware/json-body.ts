import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError } from '../../core/errors.js';

const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;

/** The media type of a Content-Type header, lower-cased, without parameters ('' when absent). */
export function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0].trim().toLowerCase();
}

export function isJsonMediaType(contentType: string | undefined): boolean {
  return JSON_MEDIA_TYPE.test(mediaType(contentType));
}

/** Refuses a body larger than `maxBytes` (by Content-Length, or while reading a chunked body) with 413. */
export function jsonBodyLimit(maxBytes: number): MiddlewareHandler {
  return bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw new PayloadTooLargeError(`JSON body larger than ${maxBytes} bytes`);
    },
  });
}

/**
 * For routes whose JSON body is optional: no body, or an empty one, reads as
 * `{}`; a non-empty body must be JSON (415 otherwise). Runs after
 * {@link jsonBodyLimit}, which bounds what is read here.
 */
export function optionalJsonBody(): MiddlewareHandler {
  return async (c, next) => {
    const text = c.req.raw.body ? await c.req.text() : '';
    if (text.trim() === '') {
      // Without a body and its content type the validator sees `{}` instead of malformed JSON.
      const headers = new Headers(c.req.raw.headers);
      headers.delete('Content-Type');
      headers.delete('Content-Length');
      c.req.raw = new Request(c.req.raw.url, { method: c.req.raw.method, headers });
    } else if (!isJsonMediaType(c.req.header('Content-Type'))) {
      throw new UnsupportedMediaTypeError('the body must be application/json');
    }
    await next();
  };
}

/**
 * Reads a JSON body of at most `maxBytes` (413 beyond, checked against
 * Content-Length first and then while reading) and parses it (400 when malformed).
 */
export async function readJsonBody(request: Request, maxBytes: number): Promise<unknown> {
  const declared = Number(request.headers.get('Content-Length') ?? NaN);
  if (declared > maxBytes) throw new PayloadTooLargeError(`JSON body larger than ${maxBytes} bytes`);
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (request.body) {
    const reader = request.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel().catch(() => {});
        throw new PayloadTooLargeError(`JSON body larger than ${maxBytes} bytes`);
      }
      chunks.push(value);
    }
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ValidationError('malformed JSON in request body');
  }
}
