/**
 * Per-file namespaces on the shared test servers: a unique BullMQ prefix and
 * a unique MongoDB database, removed when the file ends.
 */
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { inject } from 'vitest';
import { type Config, loadConfig } from '../../src/core/config.js';
import { createLogger, type Logger } from '../../src/core/logger.js';

export interface TestNamespace {
  redisUrl: string;
  mongoUrl: string;
  prefix: string;
  dbName: string;
  /** Config pointing at this namespace; `env` entries override defaults (as environment variables would). */
  config(env?: Record<string, string>): Config;
  /** Deletes every Redis key under the prefix and drops the database. */
  cleanup(): Promise<void>;
}

export function testNamespace(urls: { redisUrl?: string; mongoUrl?: string } = {}): TestNamespace {
  const id = randomUUID().replaceAll('-', '').slice(0, 16);
  const redisUrl = urls.redisUrl ?? inject('redisUrl');
  const mongoUrl = urls.mongoUrl ?? inject('mongoUrl');
  const prefix = `test-${id}`;
  const dbName = `test_${id}`;
  return {
    redisUrl,
    mongoUrl,
    prefix,
    dbName,
    config: (env = {}) =>
      loadConfig({ REDIS_URL: redisUrl, MONGODB_URL: mongoUrl, MONGODB_DB: dbName, QUEUE_PREFIX: prefix, NODE_ENV: 'test', LOG_LEVEL: 'silent', ...env }),
    cleanup: async () => {
      const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true });
      redis.on('error', () => {});
      try {
        await redis.connect();
        let cursor = '0';
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
          cursor = next;
          if (keys.length > 0) await redis.del(...keys);
        } while (cursor !== '0');
      } catch {
        // The server may be down at the end of a fault test; its data dir is removed with it.
      } finally {
        redis.disconnect();
      }
      const mongo = new MongoClient(mongoUrl, { serverSelectionTimeoutMS: 2000 });
      try {
        await mongo.connect();
        await mongo.db(dbName).dropDatabase();
      } catch {
        // As above.
      } finally {
        await mongo.close();
      }
    },
  };
}

/** A logger that keeps its JSON lines in memory, for assertions on what was logged. */
export function memoryLogger(level = 'debug'): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return {
    logger: createLogger({ level }, stream),
    lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

export const silentLogger = (): Logger => createLogger({ level: 'silent' });
