import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { describe, expect, inject, it } from 'vitest';
import { startRedisServer } from '../helpers/servers.js';

describe('test servers', () => {
  it('the shared redis-server and FerretDB answer', async () => {
    const redis = new Redis(inject('redisUrl'));
    expect(await redis.ping()).toBe('PONG');
    redis.disconnect();
    const mongo = await MongoClient.connect(inject('mongoUrl'));
    const db = mongo.db(`test_${Date.now()}`);
    await db.collection('c').insertOne({ a: 1 });
    expect(await db.collection('c').countDocuments()).toBe(1);
    await db.dropDatabase();
    await mongo.close();
  });

  it('a Redis with AOF keeps its keys across a stop and a start', async () => {
    const server = await startRedisServer({ aof: true });
    try {
      const redis = new Redis(server.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
      redis.on('error', () => {});
      await redis.set('k', 'v');
      await server.stop();
      expect(server.running()).toBe(false);
      await server.start();
      const again = new Redis(server.url);
      expect(await again.get('k')).toBe('v');
      again.disconnect();
      redis.disconnect();
    } finally {
      await server.dispose();
    }
  });
});
