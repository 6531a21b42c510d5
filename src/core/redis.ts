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
