/**
 * Scenarios 2 and 3: Redis and MongoDB (FerretDB) stopped mid-job and
 * started again, on real processes. Nothing is lost, nothing duplicated, the
 * API never hangs, and workers consume again after Redis comes back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JFK, LIBRI_CLIP, longformClip } from '../helpers/fixtures.js';
import { registerMeeting, settledJob, startTranscription, storedSegments, transcriptionStatus, waitForStatus } from '../helpers/meetings.js';
import type { ServiceProcess } from '../helpers/processes.js';
import { type Stack, startStack } from '../helpers/stack.js';

let stack: Stack;
let workers: ServiceProcess[];

beforeAll(async () => {
  // The default three attempts: a MongoDB outage must not use them up.
  stack = await startStack({ env: { JOB_ATTEMPTS: '3', JOB_BACKOFF_MS: '1000', REDIS_COMMAND_TIMEOUT_MS: '500' } });
  await stack.startApi();
  workers = [await stack.startWorker('out-a'), await stack.startWorker('out-b')];
}, 90_000);
afterAll(async () => {
  await stack?.dispose();
});

/** Waits for any worker to log a line matching the predicate. */
function anyWorkerLog(match: (l: Record<string, unknown>) => boolean, timeoutMs = 60_000) {
  return Promise.any(workers.map((w) => w.waitForLog(match, timeoutMs)));
}

/** Times an API call: the API must answer promptly even with a server down. */
async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  const value = await fn();
  return { value, ms: Date.now() - started };
}

describe('Redis lost mid-job', () => {
  it('the job completes, starts made meanwhile are not lost, the API answers promptly, and workers consume again', async () => {
    await registerMeeting(stack, 'p', 'r-long', longformClip(90));
    await registerMeeting(stack, 'p', 'r-during', JFK);
    await registerMeeting(stack, 'p', 'r-after', LIBRI_CLIP);
    await startTranscription(stack, 'p', 'r-long');
    await anyWorkerLog((l) => l.msg === 'chunk saved' && l.meetingId === 'r-long');

    await stack.redis.stop();
    const start = await timed(() => stack.api('/api/projects/p/meetings/r-during/transcription/start', { method: 'POST' }));
    expect(start.ms).toBeLessThan(2000);
    expect(start.value.status).toBe(202);
    expect(((await start.value.json()) as { state: string }).state).toBe('deferred');
    const metrics = await timed(() => stack.api('/api/queues/metrics'));
    expect(metrics.ms).toBeLessThan(2000);
    expect(metrics.value.status).toBe(503);
    const status = await timed(() => transcriptionStatus(stack, 'p', 'r-long'));
    expect(status.ms).toBeLessThan(2000);
    expect(status.value.status).toBe('processing');
    const ready = await timed(() => fetch(`${stack.apiUrl()}/readyz`));
    expect(ready.ms).toBeLessThan(2000);
    expect(ready.value.status).toBe(503);

    await new Promise((r) => setTimeout(r, 1500)); // an outage longer than a few lock renewals
    await stack.redis.start();

    await waitForStatus(stack, 'p', 'r-long', 'completed', 180_000);
    // Started while Redis was down: the reconciler enqueued it from MongoDB.
    await waitForStatus(stack, 'p', 'r-during', 'completed', 120_000);
    // A brand-new job after the restart reaches active and completes: the workers consume again.
    await startTranscription(stack, 'p', 'r-after');
    await waitForStatus(stack, 'p', 'r-after', 'completed', 120_000);
    for (const id of ['r-long', 'r-during', 'r-after']) {
      const { duplicateKeys, duplicateSpans } = await storedSegments(stack, id);
      expect(duplicateKeys).toEqual([]);
      expect(duplicateSpans).toEqual([]);
    }
  }, 400_000);
});

describe('MongoDB (FerretDB) lost mid-job', () => {
  it('saves fail, the attempt fails and backs off, the retry completes; status never leaves processing; no duplicates', async () => {
    await registerMeeting(stack, 'p', 'm-long', longformClip(90));
    await startTranscription(stack, 'p', 'm-long');
    await anyWorkerLog((l) => l.msg === 'chunk saved' && l.meetingId === 'm-long');
    await stack.mongo.stop();
    // The save fails, the attempt stops and the job backs off (BullMQ's delayed set) without spending an attempt.
    const stopped = await anyWorkerLog((l) => l.meetingId === 'm-long' && String(l.msg).startsWith('mongodb unreachable; job attempt stopped'), 60_000);
    expect(Number(stopped.delayMs)).toBeGreaterThan(0);
    const delayed = await stack.regular.getJob('transcription-p.m-long');
    expect(['delayed', 'waiting', 'active']).toContain(await delayed?.getState());
    // The API still answers promptly (503 for what needs MongoDB).
    const during = await timed(() => stack.api('/api/projects/p/meetings/m-long/transcription'));
    expect(during.ms).toBeLessThan(7000);
    expect(during.value.status).toBe(503);
    // Down long enough that the guide's three attempts (1 s, 2 s backoff) would all have been spent.
    await new Promise((r) => setTimeout(r, 5000));
    await stack.mongo.start();

    const { seen } = await waitForStatus(stack, 'p', 'm-long', 'completed', 180_000);
    expect(seen.every((s) => s.status === 'processing' || s.status === 'completed')).toBe(true);
    const progress = seen.map((s) => s.progress);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    const { duplicateKeys, duplicateSpans } = await storedSegments(stack, 'm-long');
    expect(duplicateKeys).toEqual([]);
    expect(duplicateSpans).toEqual([]);
    const job = await settledJob(stack.regular, 'transcription-p.m-long', 'completed');
    // Better than the guide's Scenario 3: the outage cost no attempt (BullMQ counts only the completing one).
    expect(job.attemptsMade).toBe(1);
    expect(job.attemptsStarted).toBeGreaterThanOrEqual(2);
  }, 400_000);
});
