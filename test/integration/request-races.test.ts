/**
 * The newest client request wins (issue 10, items 3 and 8), on real Redis,
 * FerretDB and BullMQ workers run in this process:
 * - a retry that lands while the failed attempt's job is still active is not
 *   swallowed, whether that job finishes within the enqueue's short wait or not;
 * - a start that lands between the reconciler's read and its write is not failed;
 * - a command Redis refuses (not an outage) fails the meeting with a clear,
 *   client-safe error instead of a 202 'deferred' that the reconciler would
 *   retry forever, and the reconciler fails such a meeting once.
 */
import { readFile } from 'node:fs/promises';
import { type Job, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { meetingKey } from '../../src/core/meetings/meeting-key.js';
import { MeetingRepository, type MeetingDocument } from '../../src/core/meetings/meeting.repository.js';
import { jobIdFor, type TranscriptionJobData } from '../../src/core/queues.js';
import { isRedisOutage } from '../../src/core/redis.js';
import { TranscriptionService } from '../../src/core/transcription.service.js';
import { silentLogger } from '../helpers/services.js';
import { type ApiHarness, createHarness, JFK, uploadForm } from './api-harness.js';

let h: ApiHarness;
let workerConnection: Redis;
const workers: Worker[] = [];

beforeAll(async () => {
  h = await createHarness();
  workerConnection = new Redis(h.ns.redisUrl, { maxRetriesPerRequest: null });
});

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.close(true)));
});

afterAll(async () => {
  workerConnection?.disconnect();
  await h?.close();
});

async function newMeeting(): Promise<string> {
  const res = await h.request('/api/projects/p1/meetings', { method: 'POST', body: uploadForm(await readFile(JFK)) });
  expect(res.status).toBe(201);
  return ((await res.json()) as { meetingId: string }).meetingId;
}

/** A meeting's key in project p1: its `_id`, the id in its job's data and job id. */
const key = (meetingId: string) => meetingKey('p1', meetingId);

const post = (meetingId: string, action: 'start' | 'retry') => h.request(`/api/projects/p1/meetings/${meetingId}/transcription/${action}`, { method: 'POST' });

/** A real BullMQ worker on the regular queue running `processor` for each job. */
function consume(processor: (job: Job<TranscriptionJobData>, token?: string) => Promise<unknown>): Worker {
  const worker = new Worker<TranscriptionJobData>(h.config.queue.regularName, processor, {
    connection: workerConnection,
    prefix: h.config.queue.prefix,
    drainDelay: 1,
  });
  worker.on('error', () => {});
  workers.push(worker);
  return worker;
}

async function waitFor<T>(what: string, read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const jobState = (meetingId: string) => h.queues.getJobStatus(jobIdFor(key(meetingId)));

/**
 * Runs the meeting's current job as a worker's last attempt does: claim, write
 * `failed` to MongoDB, then (after `holdMs`, the window under test) fail the
 * job in BullMQ. Resolves once the meeting is failed in MongoDB.
 */
async function failLastAttempt(meetingId: string, holdMs: number): Promise<void> {
  let written!: () => void;
  const failedInMongo = new Promise<void>((r) => (written = r));
  const worker = consume(async (job) => {
    if (job.data.meetingId !== key(meetingId)) return;
    const claim = await h.meetings.claim(key(meetingId));
    if (!claim) return { skipped: true };
    await h.meetings.fail(key(meetingId), { errorMessage: 'decoder exploded', attempts: 4, lastAttempt: new Date() }, claim.epoch);
    written();
    // Take no further job (the retry's must stay waiting); this one still moves to failed.
    void worker.close();
    await new Promise((r) => setTimeout(r, holdMs));
    throw new UnrecoverableError('decoder exploded');
  });
  await failedInMongo;
}

describe('a retry racing the failed attempt it retries', () => {
  it('waits for the old job to leave active and queues the retry at once', async () => {
    const meetingId = await newMeeting();
    expect((await post(meetingId, 'start')).status).toBe(202);
    const firstRequest = (await h.meetings.findById(key(meetingId)))!.transcriptionRequestedAt!.getTime();
    await failLastAttempt(meetingId, 300);

    // The old job is still active for 300 ms: the retry waits it out instead of answering 'existing'.
    const res = await post(meetingId, 'retry');
    expect(res.status).toBe(202);
    expect(((await res.json()) as { state: string }).state).toBe('queued');
    const job = await jobState(meetingId);
    expect(job?.status).toBe('waiting');
    expect(job?.data.requestedAt).toBeGreaterThan(firstRequest);

    // The reconciler leaves the retried meeting alone: its job is the retry's.
    await h.service.reconcile();
    expect((await h.meetings.findById(key(meetingId)))!.transcriptionStatus).toBe('pending');
  });

  it('answers deferred when the old job is slower than the wait, and the reconciler queues the retry instead of failing it again', async () => {
    const meetingId = await newMeeting();
    expect((await post(meetingId, 'start')).status).toBe(202);
    await failLastAttempt(meetingId, 4000);

    const res = await post(meetingId, 'retry');
    expect(res.status).toBe(202);
    expect(((await res.json()) as { state: string }).state).toBe('deferred');
    const retried = (await h.meetings.findById(key(meetingId)))!;
    expect(retried.transcriptionStatus).toBe('pending');

    // The old attempt now reaches BullMQ's failed set, after the retry's request time.
    // The job record is read apart from its state: wait until the failed state's finishedOn is in the read too.
    const old = await waitFor('old job', () => jobState(meetingId), (s) => s?.status === 'failed' && s.finishedOn !== undefined);
    expect(old!.finishedOn).toBeGreaterThan(retried.transcriptionRequestedAt!.getTime());
    const report = await h.service.reconcile();
    expect(report.failed).toBe(0);
    const after = (await h.meetings.findById(key(meetingId)))!;
    expect(after.transcriptionStatus).toBe('pending');
    expect(after.metadata.transcription).toBeUndefined();
    const job = await jobState(meetingId);
    expect(job?.status).toBe('waiting');
    expect(job?.data.requestedAt).toBe(retried.transcriptionRequestedAt!.getTime());
  });
});

/** The real repository, with a hook that runs right after the reconciler's second read of a meeting. */
class RepositoryWithGap extends MeetingRepository {
  gap?: () => Promise<void>;
  override async findById(meetingId: string): Promise<MeetingDocument | null> {
    const doc = await super.findById(meetingId);
    const gap = this.gap;
    this.gap = undefined;
    if (gap) await gap();
    return doc;
  }
}

describe('a start racing the reconciler', () => {
  it('is not failed by the reconciler pass that read the meeting before it', async () => {
    const meetingId = await newMeeting();
    expect((await post(meetingId, 'start')).status).toBe(202);
    // The job fails for good without the worker writing MongoDB (it was away): the reconciler's case.
    consume(async (job) => {
      if (job.data.meetingId === key(meetingId)) throw new UnrecoverableError('worker lost MongoDB');
    });
    await waitFor('job', () => jobState(meetingId), (s) => s?.status === 'failed');
    await Promise.all(workers.splice(0).map((w) => w.close()));

    const repository = new RepositoryWithGap(h.mongo.db);
    const reconciler = new TranscriptionService(repository, h.queues, h.config.queue, silentLogger());
    let startState: string | undefined;
    repository.gap = async () => {
      const res = await post(meetingId, 'start');
      startState = ((await res.json()) as { state: string }).state;
    };
    const report = await reconciler.reconcile();
    expect(startState).toBe('queued');
    expect(report.failed).toBe(0);
    expect((await h.meetings.findById(key(meetingId)))!.transcriptionStatus).toBe('pending');
    expect((await jobState(meetingId))?.status).toBe('waiting');

    // Without a racing start, the same pass fails the meeting (the old behaviour, still wanted).
    consume(async (job) => {
      if (job.data.meetingId === key(meetingId)) throw new UnrecoverableError('worker lost MongoDB again');
    });
    await waitFor('job', () => jobState(meetingId), (s) => s?.status === 'failed');
    expect((await reconciler.reconcile()).failed).toBe(1);
    const failed = (await h.meetings.findById(key(meetingId)))!;
    expect(failed.transcriptionStatus).toBe('failed');
    expect(failed.metadata.transcription?.errorMessage).toBe('worker lost MongoDB again');
  });
});

describe('a command Redis refuses is not an outage', () => {
  /** Puts a string where BullMQ keeps the job's hash: every read of that job gets WRONGTYPE. */
  const corruptJobKey = (meetingId: string) => workerConnection.set(`${h.config.queue.prefix}:${h.config.queue.regularName}:${jobIdFor(key(meetingId))}`, 'garbage');
  const repairJobKey = (meetingId: string) => workerConnection.del(`${h.config.queue.prefix}:${h.config.queue.regularName}:${jobIdFor(key(meetingId))}`);

  it('tells outages from refusals', async () => {
    const down = new Redis('redis://127.0.0.1:1', { maxRetriesPerRequest: 0, enableOfflineQueue: false, lazyConnect: true, retryStrategy: () => null });
    down.on('error', () => {});
    const outage = await down.connect().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(isRedisOutage(outage)).toBe(true);
    expect(isRedisOutage(await down.ping().catch((err: unknown) => err))).toBe(true);
    const refused = await workerConnection.hgetall('nothing').then(async () => {
      await workerConnection.set('a-string', 'x');
      return workerConnection.hgetall('a-string').catch((err: unknown) => err);
    });
    expect(isRedisOutage(refused)).toBe(false);
    expect(isRedisOutage(new Error('ERR unknown command'))).toBe(false);
    expect(isRedisOutage(Object.assign(new Error('LOADING Redis is loading the dataset in memory'), { name: 'ReplyError' }))).toBe(true);
  });

  it('start answers 500 QUEUE_REFUSED (not 202 deferred) and fails the meeting with a client-safe message; retry works once repaired', async () => {
    const meetingId = await newMeeting();
    await corruptJobKey(meetingId);
    const res = await post(meetingId, 'start');
    expect(res.status).toBe(500);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('QUEUE_REFUSED');
    expect(body.error.message).toMatch(/the job queue refused this transcription/);
    expect(body.error.message).not.toMatch(/WRONGTYPE|bull:/);
    const status = (await (await h.request(`/api/projects/p1/meetings/${meetingId}/transcription`)).json()) as {
      status: string;
      error?: { errorMessage: string };
    };
    expect(status.status).toBe('failed');
    expect(status.error?.errorMessage).not.toMatch(/WRONGTYPE/);

    // The reconciler does not keep trying it: the meeting is no longer live.
    expect((await h.service.reconcile()).failed).toBe(0);

    await repairJobKey(meetingId);
    const retry = await post(meetingId, 'retry');
    expect(retry.status).toBe(202);
    expect(((await retry.json()) as { state: string }).state).toBe('queued');
  });

  it('the reconciler fails a requested meeting whose job it cannot read, once, and goes on with the others', async () => {
    const broken = await newMeeting();
    const healthy = await newMeeting();
    // Both requested while Redis refused nothing yet; then their jobs disappear (a Redis data loss).
    for (const id of [broken, healthy]) expect((await post(id, 'start')).status).toBe(202);
    for (const id of [broken, healthy]) await (await h.queues.queue('regular').getJob(jobIdFor(key(id))))!.remove();
    await corruptJobKey(broken);

    const report = await h.service.reconcile();
    expect(report.failed).toBe(1);
    expect(report.enqueued).toBeGreaterThanOrEqual(1);
    expect((await h.meetings.findById(key(broken)))!.transcriptionStatus).toBe('failed');
    expect((await h.meetings.findById(key(broken)))!.metadata.transcription?.code).toBe('QUEUE_REFUSED');
    expect((await jobState(healthy))?.status).toBe('waiting');
    const second = await h.service.reconcile();
    expect(second.failed).toBe(0);
    await repairJobKey(broken);
  });
});
