/**
 * The reconciler at scale (issue 10, item 9), on real Redis, FerretDB and
 * BullMQ workers: batched job look-ups agree with BullMQ's own, a pass visits
 * every live requested meeting page by page, and a Redis lease lets one
 * process of a deployment run the passes, with a takeover once a dead
 * holder's lease runs out.
 */
import { type Job, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/core/config.js';
import type { Logger } from '../../src/core/logger.js';
import { type MeetingAudio, MeetingRepository } from '../../src/core/meetings/meeting.repository.js';
import { connectMongo, type MongoHandle } from '../../src/core/mongo.js';
import { jobIdFor, type TranscriptionJobData } from '../../src/core/queues.js';
import { type PassOutcome, type Reconciler, startReconciler } from '../../src/core/reconciler.js';
import { createRedisConnection, waitForRedisReady } from '../../src/core/redis.js';
import { type JobOutcome, QueueCommandError, TranscriptionQueues } from '../../src/core/transcription-queues.js';
import { TranscriptionService } from '../../src/core/transcription.service.js';
import { memoryLogger, silentLogger, type TestNamespace, testNamespace } from '../helpers/services.js';

const audio: MeetingAudio = { path: '/data/a.wav', source: 'upload', durationSec: 60, sizeBytes: 1000, sha256: 'ab', codec: 'pcm_s16le', formatName: 'wav' };

/** One process of a deployment: its own Redis connection, queues, service and in-memory log. */
interface ServiceProcess {
  redis: Redis;
  queues: TranscriptionQueues;
  service: TranscriptionService;
  logger: Logger;
  logs: () => Record<string, unknown>[];
}

/** A deployment: one queue prefix (hence one lease) and one database, shared by its processes. */
interface Deployment {
  ns: TestNamespace;
  config: Config;
  mongo: MongoHandle;
  meetings: MeetingRepository;
  process(): Promise<ServiceProcess>;
}

const cleanups: (() => Promise<unknown> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function deployment(): Promise<Deployment> {
  const ns = testNamespace();
  const config = ns.config();
  const mongo = await connectMongo({ url: ns.mongoUrl, db: ns.dbName, logger: silentLogger() });
  cleanups.push(() => ns.cleanup(), () => mongo.close());
  const meetings = new MeetingRepository(mongo.db);
  await meetings.ensureIndexes();
  return {
    ns,
    config,
    mongo,
    meetings,
    async process() {
      const { logger, lines } = memoryLogger();
      const redis = createRedisConnection({ url: ns.redisUrl, role: 'producer', commandTimeoutMs: config.redis.commandTimeoutMs, logger });
      const queues = new TranscriptionQueues(redis, config.queue, logger, config.redis.commandTimeoutMs);
      cleanups.push(() => redis.disconnect(), () => queues.close());
      expect(await waitForRedisReady(redis, 5000)).toBe(true);
      return { redis, queues, service: new TranscriptionService(meetings, queues, config.queue, logger), logger, logs: lines };
    },
  };
}

function reconcile(p: ServiceProcess, options: { pageSize?: number; leaseTtlMs?: number } = {}): Reconciler {
  // A long interval: the tests drive the ticks through runOnce().
  const reconciler = startReconciler({ service: p.service, queues: p.queues, intervalMs: 3_600_000, logger: p.logger, ...options });
  cleanups.push(() => reconciler.stop());
  return reconciler;
}

async function requestedMeetings(d: Deployment, count: number, tag: string): Promise<string[]> {
  const ids = Array.from({ length: count }, (_, i) => `${tag}-${String(i).padStart(3, '0')}`);
  for (const id of ids) {
    await d.meetings.create({ id, projectId: 'p1', audio });
    await d.meetings.recordTranscriptionRequest(id, 'regular', jobIdFor(id));
  }
  return ids;
}

function jobData(meetingId: string, extra: Partial<TranscriptionJobData> = {}): TranscriptionJobData {
  return { meetingId, projectId: 'p1', audioUri: '/data/a.wav', durationSec: 60, queue: 'regular', timeoutMs: 60_000, options: {}, ...extra };
}

const ran = (o: PassOutcome) => (o.ran ? o.report : undefined);

describe('batched job look-ups', () => {
  it('getJobOutcomes agrees with getJobStatus for every state, and a key Redis refuses fails only its job', async () => {
    const d = await deployment();
    const p = await d.process();
    const requestedAt = Date.now() - 1000;
    // Finished jobs, through a real worker.
    await p.queues.queue('regular').add('transcribe', jobData('done'), { jobId: jobIdFor('done') });
    await p.queues.queue('regular').add('transcribe', jobData('broken', { requestedAt }), { jobId: jobIdFor('broken'), attempts: 1 });
    const workerConnection = new Redis(d.ns.redisUrl, { maxRetriesPerRequest: null });
    const worker = new Worker<TranscriptionJobData>(
      d.config.queue.regularName,
      async (job: Job<TranscriptionJobData>) => {
        if (job.data.meetingId === 'broken') throw new UnrecoverableError('decoder exploded');
        return { ok: true };
      },
      { connection: workerConnection, prefix: d.config.queue.prefix, drainDelay: 1 },
    );
    worker.on('error', () => {});
    cleanups.push(() => workerConnection.disconnect(), () => worker.close(true));
    await expect.poll(async () => (await p.queues.getJobStatus(jobIdFor('broken')))?.status, { timeout: 10_000 }).toBe('failed');
    await expect.poll(async () => (await p.queues.getJobStatus(jobIdFor('done')))?.status, { timeout: 10_000 }).toBe('completed');
    await worker.close();
    // Unfinished jobs of either queue, one missing, one whose key is not a hash.
    await p.queues.queue('regular').add('transcribe', jobData('waiting', { requestedAt }), { jobId: jobIdFor('waiting') });
    await p.queues.queue('regular').add('transcribe', jobData('later'), { jobId: jobIdFor('later'), delay: 60_000 });
    await p.queues.queue('large').add('transcribe', jobData('long', { queue: 'large' }), { jobId: jobIdFor('long') });
    await p.redis.set(`${d.config.queue.prefix}:${d.config.queue.regularName}:${jobIdFor('corrupt')}`, 'garbage');

    const ids = ['done', 'broken', 'waiting', 'later', 'long', 'missing', 'corrupt'].map(jobIdFor);
    const outcomes = await p.queues.getJobOutcomes(ids);
    expect(outcomes.get(jobIdFor('corrupt'))).toBeInstanceOf(QueueCommandError);
    await expect(p.queues.getJobStatus(jobIdFor('corrupt'))).rejects.toBeInstanceOf(QueueCommandError);
    for (const id of ids.filter((i) => i !== jobIdFor('corrupt'))) {
      const status = await p.queues.getJobStatus(id);
      const expected: JobOutcome | null = status && {
        queue: status.queue,
        status: status.status === 'completed' || status.status === 'failed' ? status.status : 'unfinished',
        failedReason: status.failedReason,
        attemptsMade: status.attemptsMade,
        ...(status.finishedOn !== undefined ? { finishedOn: status.finishedOn } : {}),
        ...(status.data.requestedAt !== undefined ? { requestedAt: status.data.requestedAt } : {}),
      };
      expect(outcomes.get(id), id).toEqual(expected);
    }
    expect(outcomes.get(jobIdFor('broken'))).toMatchObject({ status: 'failed', failedReason: 'decoder exploded', attemptsMade: 1, requestedAt });
    expect(outcomes.get(jobIdFor('long'))).toMatchObject({ queue: 'large', status: 'unfinished' });
    expect(outcomes.get(jobIdFor('missing'))).toBeNull();
  });
});

describe('a reconcile pass', () => {
  it('visits every live requested meeting, page by page, and enqueues each one without a job', async () => {
    const d = await deployment();
    const p = await d.process();
    const orphans = await requestedMeetings(d, 23, 'orphan');
    const queued = await requestedMeetings(d, 5, 'queued');
    for (const id of queued) await p.queues.enqueue(jobData(id));
    const finished = (await requestedMeetings(d, 1, 'finished'))[0];
    await d.meetings.complete(finished, (await d.meetings.claim(finished))!.epoch);

    const report = ran(await reconcile(p, { pageSize: 10 }).runOnce());
    expect(report).toMatchObject({ checked: 28, pages: 3, enqueued: 23, failed: 0, finished: true });
    for (const id of [...orphans, ...queued]) expect((await p.queues.getJobStatus(jobIdFor(id)))?.status, id).toBe('waiting');
    expect(await p.queues.getJobStatus(jobIdFor(finished))).toBeNull();
  });

  it('stops between pages when told to (the lease is lost)', async () => {
    const d = await deployment();
    const p = await d.process();
    await requestedMeetings(d, 12, 'm');
    const report = await p.service.reconcile({ pageSize: 5, beforePage: () => false });
    expect(report).toMatchObject({ checked: 5, pages: 1, enqueued: 5, finished: false });
  });
});

describe('one reconciler per deployment', () => {
  it('of two started at once on separate connections, one runs the passes and the other skips its ticks until the first stops', async () => {
    const d = await deployment();
    const [a, b] = await Promise.all([d.process(), d.process()]);
    await requestedMeetings(d, 3, 'm');
    const [ra, rb] = [reconcile(a), reconcile(b)];
    const first = await Promise.all([ra.runOnce(), rb.runOnce()]);
    expect(first.filter((o) => o.ran)).toHaveLength(1);
    expect(first.filter((o) => !o.ran)).toEqual([{ ran: false, reason: 'held-elsewhere' }]);
    const [holder, other] = first[0].ran ? [ra, rb] : [rb, ra];
    const otherLogs = (first[0].ran ? b : a).logs();
    expect(otherLogs.some((l) => l.msg === 'reconcile pass skipped: another process holds the lease')).toBe(true);
    expect(first.find((o) => o.ran)).toMatchObject({ report: { checked: 3, enqueued: 3 } });

    // The holder keeps the lease from tick to tick.
    expect((await Promise.all([holder.runOnce(), other.runOnce()])).map((o) => o.ran)).toEqual([true, false]);
    // A holder that stops releases it: the other takes over at its next tick.
    await holder.stop();
    expect(await holder.runOnce()).toEqual({ ran: false, reason: 'stopped' });
    expect((await other.runOnce()).ran).toBe(true);
  });

  it('a holder that dies without releasing lets another take over once the lease has run out', async () => {
    const d = await deployment();
    const [a, b] = await Promise.all([d.process(), d.process()]);
    const leaseTtlMs = 1500;
    const ra = reconcile(a, { leaseTtlMs });
    expect((await ra.runOnce()).ran).toBe(true);
    const heldAt = Date.now();
    // It dies: its connection goes, so its stop cannot release the lease.
    a.redis.disconnect();
    await ra.stop();
    const rb = reconcile(b, { leaseTtlMs });
    expect(await rb.runOnce()).toEqual({ ran: false, reason: 'held-elsewhere' });
    await expect.poll(async () => (await rb.runOnce()).ran, { timeout: leaseTtlMs + 5000, interval: 100 }).toBe(true);
    expect(Date.now() - heldAt).toBeGreaterThanOrEqual(leaseTtlMs - 50);
  });

  it('a holder that lost its lease cannot renew or release the new holder\'s', async () => {
    const d = await deployment();
    const p = await d.process();
    const first = p.queues.lease('test', 300);
    const second = p.queues.lease('test', 60_000);
    expect(await first.hold()).toBe(true);
    expect(await second.hold()).toBe(false);
    expect(await second.release()).toBe(false);
    await expect.poll(() => p.redis.exists(first.key), { timeout: 5000, interval: 50 }).toBe(0);
    expect(await second.hold()).toBe(true);
    expect(await first.hold()).toBe(false);
    expect(await first.release()).toBe(false);
    expect(await p.redis.get(second.key)).toBe(second.token);
    expect(await second.release()).toBe(true);
    expect(await p.redis.exists(second.key)).toBe(0);
  });
});
