import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { UnauthorizedError } from '../../core/errors.js';
import type { AppEnv } from '../env.js';

/**
 * Bearer API keys. Every configured key is compared (as SHA-256 digests, so
 * lengths never differ) in constant time, and all of them on every request,
 * so the answer's timing does not reveal which key nearly matched.
 * Sets `apiKeyId`, which names the key in rate limits and logs.
 */
export function apiKeyAuth(keys: readonly string[]): MiddlewareHandler<AppEnv> {
  const digests = keys.map(digest);
  return async (c, next) => {
    const header = c.req.header('Authorization');
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) throw new UnauthorizedError('missing API key: send "Authorization: Bearer <key>"');
    const presented = digest(match[1]);
    let ok = false;
    for (const d of digests) ok = timingSafeEqual(d, presented) || ok;
    if (!ok) throw new UnauthorizedError('invalid API key');
    c.set('apiKeyId', apiKeyId(presented));
    await next();
  };
}

/** The first 8 bytes of the key's SHA-256, in hex: enough to tell keys apart, useless to a reader of logs. */
function apiKeyId(keyDigest: Buffer): string {
  return keyDigest.toString('hex', 0, 8);
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
