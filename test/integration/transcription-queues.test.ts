import { type Job, Worker } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UnavailableError } from '../../src/core/errors.js';
import { jobIdFor, routeByDuration, type TranscriptionJobData } from '../../src/core/queues.js';
import { createRedisConnection } from '../../src/core/redis.js';
import { TranscriptionQueues } from '../../src/core/transcription-queues.js';
import { startRedisServer, type ServerHandle } from '../helpers/servers.js';
import { silentLogger, testNamespace } from '../helpers/services.js';

const logger = silentLogger();
const ns = testNamespace();
const config = ns.config({ JOB_ATTEMPTS: '3', JOB_BACKOFF_MS: '200' });
const connection = createRedisConnection({ url: ns.redisUrl, role: 'producer', logger });
let queues: TranscriptionQueues;
let seq = 0;

function jobData(overrides: Partial<TranscriptionJobData> = {}): TranscriptionJobData {
  const meetingId = `m${Date.now()}x${seq++}`;
  return { meetingId, projectId: 'p', audioUri: '/x.wav', durationSec: 60, queue: 'regular', timeoutMs: 60_000, options: {}, ...overrides };
}

beforeAll(() => {
  queues = new TranscriptionQueues(connection, config.queue, logger);
});
afterAll(async () => {
  await queues.close();
  connection.disconnect();
  await ns.cleanup();
});

describe('routing', () => {
  it('sends 39:59 to the regular queue and 40:01 to the large one', () => {
    expect(routeByDuration(39 * 60 + 59, config.queue).kind).toBe('regular');
    expect(routeByDuration(40 * 60 + 1, config.queue).kind).toBe('large');
    expect(routeByDuration(40 * 60, config.queue).kind).toBe('regular');
  });

  it('gives large jobs a timeout that scales with duration', () => {
    const threeHours = routeByDuration(3 * 3600, config.queue);
    expect(threeHours.timeoutMs).toBe(3 * 3600 * 1000 * config.queue.largeTimeoutFactor);
    expect(routeByDuration(60, config.queue).timeoutMs).toBe(config.queue.timeoutMs);
  });

  it('enqueues into the queue it was routed to', async () => {
    const long = jobData({ durationSec: 40 * 60 + 1, queue: routeByDuration(40 * 60 + 1, config.queue).kind });
    const res = await queues.enqueue(long);
    expect(res).toEqual({ jobId: jobIdFor(long.meetingId), queue: 'large', created: true });
    expect(await queues.large.getJob(res.jobId)).toBeDefined();
    expect(await queues.regular.getJob(res.jobId)).toBeUndefined();
  });
});

describe('enqueue', () => {
  it('a duplicate start yields one job', async () => {
    const data = jobData();
    const [a, b] = await Promise.all([queues.enqueue(data), queues.enqueue(data)]);
    const again = await queues.enqueue(data);
    expect(a.jobId).toBe(jobIdFor(data.meetingId));
    expect(b.jobId).toBe(a.jobId);
    expect(again.created).toBe(false);
    const waiting = await queues.regular.getJobs(['waiting']);
    expect(waiting.filter((j) => j.data.meetingId === data.meetingId)).toHaveLength(1);
  });

  it('reports status and metrics in the guide\'s shapes', async () => {
    const data = jobData();
    const { jobId } = await queues.enqueue(data);
    const status = await queues.getJobStatus(jobId);
    expect(status).toEqual({ jobId, queue: 'regular', status: 'waiting', progress: 0, failedReason: null, attemptsMade: 0, data });
    expect(await queues.getJobStatus('transcription-nope')).toBeNull();
    const metrics = await queues.getQueueMetrics();
    for (const counts of [metrics, metrics.queues.regular, metrics.queues.large]) {
      expect(Object.keys(counts)).toEqual(expect.arrayContaining(['waiting', 'active', 'completed', 'failed', 'delayed', 'total']));
      expect(counts.total).toBe(counts.waiting + counts.active + counts.completed + counts.failed + counts.delayed);
    }
    expect(metrics.waiting).toBeGreaterThanOrEqual(1);
    expect(metrics.queues.regular.name).toBe('transcription-queue');
  });
});

describe('retries', () => {
  let worker: Worker | undefined;
  afterEach(async () => {
    await worker?.close(true);
  });

  it('retries with exponential backoff, then fails for good with attempts made = attempts', async () => {
    const data = jobData();
    const delays: number[] = [];
    const workerConnection = createRedisConnection({ url: ns.redisUrl, role: 'worker', logger });
    const done = new Promise<Job>((resolve) => {
      worker = new Worker<TranscriptionJobData>(
        config.queue.regularName,
        async () => {
          throw new Error('always fails');
        },
        { connection: workerConnection, prefix: config.queue.prefix },
      );
      worker.on('failed', async (job) => {
        if (!job || job.data.meetingId !== data.meetingId) return;
        const stored = await queues.regular.getJob(job.id!);
        const state = await stored!.getState();
        if (state === 'delayed') delays.push(stored!.delay);
        if (state === 'failed') resolve(stored!);
      });
    });
    await queues.enqueue(data);
    const failed = await done;
    expect(failed.attemptsMade).toBe(3);
    expect(failed.failedReason).toBe('always fails');
    expect(failed.stacktrace).toHaveLength(3);
    expect(delays).toEqual([200, 400]);
    expect(failed.opts.removeOnFail).toEqual({ age: 7 * 24 * 3600 });
    const status = await queues.getJobStatus(failed.id!);
    expect(status).toMatchObject({ status: 'failed', attemptsMade: 3, failedReason: 'always fails' });
    // A new request for the meeting replaces the finished job instead of being swallowed by the id dedupe.
    expect((await queues.enqueue(data)).created).toBe(true);
    await worker!.close(true);
    await workerConnection.quit();
  });
});

describe('with Redis stopped', () => {
  let server: ServerHandle;
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server.dispose();
  });

  it('enqueue fails within 1 s with a clear error, and works again after a restart', async () => {
    const redis = createRedisConnection({ url: server.url, role: 'producer', logger });
    const own = new TranscriptionQueues(redis, config.queue, logger);
    await own.enqueue(jobData());
    await server.stop();
    const started = Date.now();
    const error = await own.enqueue(jobData()).catch((err: unknown) => err);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as Error).message).toMatch(/queue unavailable/);
    expect(await own.ping()).toBe(false);
    await server.start();
    await expect.poll(() => own.ping(), { timeout: 10_000 }).toBe(true);
    expect((await own.enqueue(jobData())).created).toBe(true);
    await own.close();
    redis.disconnect();
  });
});
