/**
 * The BullMQ wiring of the worker (src/worker/worker.ts) on a real
 * redis-server, with processors that end the ways the transcription
 * processor can: completed, handed back, delayed; and one that hangs, for
 * the forced close. Issue 10, item 7.
 */
import { DelayedError, Queue, WaitingError, type Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/core/config.js';
import { createMetrics, type ServiceMetrics } from '../../src/core/metrics.js';
import { createRedisConnection, waitForRedisReady } from '../../src/core/redis.js';
import type { Redis } from 'ioredis';
import type { TranscriptionJobData } from '../../src/core/queues.js';
import { createTranscriptionWorker, type TranscriptionWorker } from '../../src/worker/worker.js';
import type { TranscribeResult } from '../../src/worker/transcribe.processor.js';
import { type ServerHandle, startRedisServer } from '../helpers/servers.js';
import { silentLogger } from '../helpers/services.js';

const logger = silentLogger();
let redis: ServerHandle;
let config: Config;
let queue: Queue;
let producer: Redis;

beforeAll(async () => {
  redis = await startRedisServer({ aof: false });
  config = loadConfig({
    REDIS_URL: redis.url,
    MONGODB_URL: 'mongodb://127.0.0.1:1/unused',
    QUEUE_PREFIX: 'wiring',
    WORKER_QUEUES: 'regular',
    LOCK_DURATION_MS: '2000',
    STALLED_INTERVAL_MS: '1000',
  });
  producer = createRedisConnection({ url: redis.url, role: 'producer', logger });
  expect(await waitForRedisReady(producer, 10_000)).toBe(true);
  queue = new Queue(config.queue.regularName, { prefix: config.queue.prefix, connection: producer });
}, 60_000);
afterAll(async () => {
  await queue?.close();
  await producer?.quit();
  await redis?.stop();
});

type Processor = (job: Job<TranscriptionJobData>, token?: string) => Promise<TranscribeResult>;

function startWorker(processor: Processor, metrics: ServiceMetrics): TranscriptionWorker {
  const worker = createTranscriptionWorker({
    config,
    processor,
    connect: () => createRedisConnection({ url: redis.url, role: 'worker', logger }),
    metrics,
    logger,
  });
  worker.run();
  return worker;
}

const busyGauge = async (metrics: ServiceMetrics) => (await metrics.workerBusy.get()).values[0]?.value ?? 0;
const jobData = (meetingId: string): TranscriptionJobData => ({ meetingId, projectId: 'p', audioUri: '-', queue: 'regular', durationSec: 1, timeoutMs: 60_000, options: {} });

describe('the busy gauge', () => {
  it('goes back to 0 after a job completes, is handed back and is delayed', async () => {
    const metrics = createMetrics({ process: 'worker' });
    const ends: string[] = [];
    const worker = startWorker(async (job, token) => {
      const kind = job.data.meetingId;
      if (kind === 'handback' && job.attemptsMade === 0 && !ends.includes('handback')) {
        ends.push(kind);
        await job.moveToWait(token);
        throw new WaitingError();
      }
      if (kind === 'delay' && !ends.includes('delay')) {
        ends.push(kind);
        await job.moveToDelayed(Date.now() + 200, token);
        throw new DelayedError();
      }
      ends.push(`${kind} done`);
      return { chunks: 1, chunksResumed: 0, segments: 0 };
    }, metrics);
    try {
      for (const id of ['done', 'handback', 'delay']) await queue.add('transcribe', jobData(id), { jobId: id });
      await expect.poll(() => ends.filter((e) => e.endsWith('done')).length, { timeout: 20_000 }).toBe(3);
      expect(ends).toEqual(expect.arrayContaining(['handback', 'delay']));
      await expect.poll(() => busyGauge(metrics), { timeout: 5_000 }).toBe(0);
      expect(worker.busy()).toBe(0);
    } finally {
      await worker.close();
    }
  }, 60_000);
});

describe('a forced close', () => {
  it('returns at once even while a graceful close waits for a stuck job, and stops renewing its lock', async () => {
    const metrics = createMetrics({ process: 'worker' });
    let release!: () => void;
    const stuck = new Promise<void>((r) => (release = r));
    let started = false;
    const worker = startWorker(async () => {
      started = true;
      await stuck;
      return { chunks: 1, chunksResumed: 0, segments: 0 };
    }, metrics);
    try {
      await queue.add('transcribe', jobData('stuck'), { jobId: 'stuck' });
      await expect.poll(() => started, { timeout: 10_000 }).toBe(true);
      expect(await busyGauge(metrics)).toBe(1);
      const lockKey = `${config.queue.prefix}:${config.queue.regularName}:stuck:lock`;
      expect(await producer.exists(lockKey)).toBe(1);
      void worker.close();
      const t0 = performance.now();
      await worker.close(true);
      expect(performance.now() - t0).toBeLessThan(500);
      expect(worker.busy()).toBe(1);
      // Without renewal the lock (2 s) lapses, so stall detection can hand the job to another worker.
      await expect.poll(() => producer.exists(lockKey), { timeout: 5_000, interval: 100 }).toBe(0);
    } finally {
      release();
    }
  }, 60_000);
});
