import type { MiddlewareHandler } from 'hono';
import { RateLimitedError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { AppEnv } from '../env.js';

export interface RateLimitOptions {
  /** Requests per minute per key, refilled continuously (RATE_LIMIT_PER_MINUTE); 0 turns the limit off. */
  perMinute: number;
  /** Bucket size (RATE_LIMIT_BURST): requests a key that has been idle may make at once. */
  burst: number;
  /** Milliseconds on a monotonic clock. @defaultValue `performance.now` */
  now?: () => number;
}

export type TakeResult = { ok: true } | { ok: false; retryAfterSec: number; firstRefusal: boolean };

interface Bucket {
  tokens: number;
  at: number;
  /** Set on a refusal, cleared on the next success: one log line per episode of refusals. */
  refusing: boolean;
}

/** How often buckets that have filled up again are forgotten. */
const SWEEP_EVERY_MS = 60_000;

/**
 * One token bucket per key, in this process's memory: each API process
 * limits on its own, so N API processes behind a balancer allow N times the
 * rate. A key without a bucket has a full one, which is why full buckets can
 * be dropped and the map stays as small as the set of recently busy keys.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;
  private readonly burst: number;
  private readonly now: () => number;
  private lastSweep: number;

  constructor(options: RateLimitOptions) {
    if (!(options.perMinute > 0) || !(options.burst >= 1)) throw new Error('TokenBuckets needs perMinute > 0 and burst >= 1');
    this.perMs = options.perMinute / 60_000;
    this.burst = options.burst;
    this.now = options.now ?? (() => performance.now());
    this.lastSweep = this.now();
  }

  /**
   * Takes a token from `key`'s bucket. When there is none, says in how many
   * whole seconds there will be one; a refused call takes nothing, so a
   * client that keeps retrying does not push its own wait further out.
   */
  take(key: string): TakeResult {
    const now = this.now();
    this.sweep(now);
    const bucket = this.buckets.get(key) ?? { tokens: this.burst, at: now, refusing: false };
    bucket.tokens = this.level(bucket, now);
    bucket.at = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      bucket.refusing = false;
      return { ok: true };
    }
    const firstRefusal = !bucket.refusing;
    bucket.refusing = true;
    return { ok: false, retryAfterSec: Math.max(1, Math.ceil((1 - bucket.tokens) / this.perMs / 1000)), firstRefusal };
  }

  /** Keys with a bucket that is not full (or not yet swept). */
  get size(): number {
    return this.buckets.size;
  }

  private level(bucket: Bucket, now: number): number {
    return Math.min(this.burst, bucket.tokens + (now - bucket.at) * this.perMs);
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < SWEEP_EVERY_MS) return;
    this.lastSweep = now;
    for (const [key, bucket] of this.buckets) if (this.level(bucket, now) >= this.burst) this.buckets.delete(key);
  }
}

/**
 * Per-key request rate limit, after apiKeyAuth (it reads `apiKeyId`). Over
 * the limit the request is refused before any handler runs: 429
 * RATE_LIMITED with `Retry-After`, and nothing changes.
 */
export function rateLimit(options: RateLimitOptions, logger: Logger): MiddlewareHandler<AppEnv> {
  if (options.perMinute === 0) return (_c, next) => next();
  const buckets = new TokenBuckets(options);
  const log = logger.child({ module: 'rate-limit' });
  return async (c, next) => {
    const apiKeyId = c.get('apiKeyId');
    const taken = buckets.take(apiKeyId);
    if (!taken.ok) {
      const { perMinute, burst } = options;
      if (taken.firstRefusal) log.warn({ apiKeyId, perMinute, burst, reqId: c.get('requestId') }, 'api key over its rate limit; refusing with 429');
      throw new RateLimitedError(
        `this API key is over its rate limit of ${perMinute} requests per minute (bursts of ${burst}); retry in ${taken.retryAfterSec} s`,
        taken.retryAfterSec,
      );
    }
    await next();
  };
}
