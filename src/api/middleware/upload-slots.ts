import type { MiddlewareHandler } from 'hono';
import { RateLimitedError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { AppEnv } from '../env.js';

/** What a refused upload is told to wait: uploads in flight take seconds to minutes, so a short, fixed hint. */
export const UPLOAD_SLOT_RETRY_AFTER_SEC = 2;

/**
 * Uploads in flight per key, in this process's memory. A key appears only
 * while it has one, so the map is as small as the set of keys uploading now.
 */
export class UploadSlots {
  private readonly inFlight = new Map<string, number>();

  constructor(private readonly perKey: number) {}

  /**
   * Takes one of `key`'s slots, or returns undefined when all `perKey` are
   * taken. The returned function gives the slot back; calling it again does nothing.
   */
  acquire(key: string): (() => void) | undefined {
    const used = this.inFlight.get(key) ?? 0;
    if (used >= this.perKey) return undefined;
    this.inFlight.set(key, used + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.inFlight.get(key) ?? 1) - 1;
      if (left > 0) this.inFlight.set(key, left);
      else this.inFlight.delete(key);
    };
  }

  /** Slots `key` holds now. */
  used(key: string): number {
    return this.inFlight.get(key) ?? 0;
  }
}

/**
 * Caps the uploads (POSTs on the paths it is mounted on) one API key has in
 * flight at `perKey` (MAX_CONCURRENT_UPLOADS_PER_KEY; 0 = no cap). The next
 * one is refused at once, before its body is read: 429 RATE_LIMITED with
 * `Retry-After`. The slot is given back when the handler is done, whatever
 * the outcome (stored, refused, client gone), or earlier through
 * `releaseUploadSlot` by a handler that goes on waiting after the upload.
 * Runs after apiKeyAuth (it reads `apiKeyId`).
 */
export function uploadSlots(perKey: number, logger: Logger): MiddlewareHandler<AppEnv> {
  if (perKey === 0) return (_c, next) => next();
  const slots = new UploadSlots(perKey);
  const log = logger.child({ module: 'upload-slots' });
  return async (c, next) => {
    if (c.req.method !== 'POST') return next();
    const apiKeyId = c.get('apiKeyId');
    const release = slots.acquire(apiKeyId);
    if (!release) {
      log.info({ apiKeyId, perKey, reqId: c.get('requestId') }, 'upload refused: the key has as many uploads in flight as it may');
      throw new RateLimitedError(
        `this API key already has ${perKey} uploads in progress (MAX_CONCURRENT_UPLOADS_PER_KEY); retry once one has finished`,
        UPLOAD_SLOT_RETRY_AFTER_SEC,
      );
    }
    c.set('releaseUploadSlot', release);
    try {
      await next();
    } finally {
      release();
    }
  };
}
