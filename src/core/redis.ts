import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from './logger.js';

export type RedisRole = 'producer' | 'worker';

export interface RedisConnectionOptions {
  url: string;
  /**
   * 'producer' (API, reconciler): commands fail at once while Redis is away,
   * so no HTTP request hangs. 'worker': BullMQ's blocking connection, which
   * must retry forever (`maxRetriesPerRequest: null`) and resume after an outage.
   */
  role: RedisRole;
  /** Per-command timeout for producers. @defaultValue 1000 */
  commandTimeoutMs?: number;
  logger: Logger;
}

/** One ioredis connection with the settings BullMQ's production guide asks for, reconnecting with capped backoff. */
export function createRedisConnection(options: RedisConnectionOptions): Redis {
  const log = options.logger.child({ module: 'redis', role: options.role });
  const timeout = options.commandTimeoutMs ?? 1000;
  const common: RedisOptions = {
    connectTimeout: Math.max(timeout, 1000),
    // Reconnect forever, at most every 2 s, so workers come back after a Redis restart.
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
    lazyConnect: false,
  };
  const roleOptions: RedisOptions =
    options.role === 'producer'
      ? { ...common, enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: timeout }
      : { ...common, enableOfflineQueue: true, maxRetriesPerRequest: null };
  const redis = new Redis(options.url, roleOptions);
  let down = false;
  redis.on('error', (err: Error) => {
    if (!down) log.warn({ err: { message: err.message } }, 'redis connection error');
    down = true;
  });
  redis.on('ready', () => {
    if (down) log.info('redis connection restored');
    down = false;
  });
  return redis;
}

/** Network errors of a connection that is down or unreachable. */
const OUTAGE_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/**
 * Replies of a server that is up but cannot take commands for now: loading
 * its dataset, running a slow script, a replica without its primary, out of
 * memory under noeviction (frees as retention removes jobs). The request is
 * fine; it will succeed later.
 */
const OUTAGE_REPLIES = /^(LOADING|BUSY|MASTERDOWN|READONLY|TRYAGAIN|CLUSTERDOWN|OOM)\b/;

/** What ioredis throws when a producer connection is not ready or a command timed out. */
const OUTAGE_MESSAGES = /^(Connection is closed|Stream isn't writeable|Command timed out|Reached the max retries per request limit)/;

/**
 * True when `err` says Redis is unreachable or temporarily unable to serve,
 * as opposed to a command it refused (WRONGTYPE, NOSCRIPT, ERR ...) or a
 * BullMQ error about the job itself, which waiting will not fix.
 */
export function isRedisOutage(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as NodeJS.ErrnoException).code;
  if (code && OUTAGE_ERRNOS.has(code)) return true;
  return err.name === 'MaxRetriesPerRequestError' || OUTAGE_REPLIES.test(err.message) || OUTAGE_MESSAGES.test(err.message);
}

/** Resolves true once the connection is ready, false after `timeoutMs` (the caller then goes on without Redis). */
export function waitForRedisReady(redis: Redis, timeoutMs: number): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      resolve(ok);
    };
    const onReady = () => done(true);
    const timer = setTimeout(() => done(false), timeoutMs);
    redis.once('ready', onReady);
  });
}
