/**
 * Scenario 4 (all attempts exhausted, then a manual retry through the API)
 * and Scenario 6 (an attempt over its queue's timeout is aborted at a chunk
 * boundary and retried; long audio goes to the large queue and never times out).
 */
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JFK, longformClip } from '../helpers/fixtures.js';
import { registerMeeting, settledJob, startTranscription, storedSegments, waitForStatus } from '../helpers/meetings.js';
import { type Stack, startStack } from '../helpers/stack.js';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    env: {
      JOB_ATTEMPTS: '3',
      JOB_BACKOFF_MS: '300',
      // A short regular-queue limit and a low large-queue threshold, so both sides of Scenario 6 fit in a test.
      JOB_TIMEOUT_MS: '5000',
      // base: its windows take a steady ~1-2 s here, where tiny's first window of the long-form file
      // runs through every fallback temperature and takes anywhere from 2 to 8 s.
      MODEL: 'base',
      LARGE_QUEUE_THRESHOLD_SEC: '100',
      LARGE_JOB_TIMEOUT_FACTOR: '2',
    },
  });
  await stack.startApi();
  await stack.startWorker('rt-a');
}, 60_000);
afterAll(async () => {
  await stack?.dispose();
});

describe('all attempts exhausted', () => {
  it('fails with the guide\'s metadata, stays in the failed set with 7-day retention, and the API retry completes it', async () => {
    await registerMeeting(stack, 'p', 'exhaust', JFK);
    // A deterministic failure: the audio file vanishes after registration (as when a storage mount is lost).
    const path = join(stack.audioRoot, 'exhaust.wav');
    await rename(path, `${path}.away`);
    const started = await stack.api('/api/projects/p/meetings/exhaust/transcription/start', {
      method: 'POST',
      body: JSON.stringify({ language: 'en', task: 'transcribe' }),
      headers: { 'content-type': 'application/json' },
    });
    expect(started.status).toBe(202);
    const { final, seen } = await waitForStatus(stack, 'p', 'exhaust', 'failed', 60_000);
    expect(seen.filter((s) => s.status !== 'failed').every((s) => s.status === 'processing' || s.status === 'pending')).toBe(true);
    expect(final.error).toMatchObject({ attempts: 3 });
    expect(final.error?.errorMessage).toMatch(/audio file not readable/);
    // Clients never see server paths (issue 10, item 12); the worker's log has the full message.
    expect(final.error?.errorMessage).not.toContain(stack.audioRoot);
    expect(final.error?.errorMessage).toContain('<server path>');
    expect(Number.isNaN(Date.parse(String(final.error?.lastAttempt)))).toBe(false);
    const job = await settledJob(stack.regular, 'transcription-p.exhaust', 'failed');
    expect(job.attemptsMade).toBe(3);
    expect(job.opts.removeOnFail).toEqual({ age: 7 * 24 * 3600 });
    expect(job.failedReason).toMatch(/^audio file not readable: <server path> \(ENOENT\)$/);
    const jobBody = (await (await stack.api('/api/jobs/transcription-p.exhaust')).json()) as { failedReason: string };
    expect(jobBody.failedReason).not.toContain(stack.audioRoot);

    await rename(`${path}.away`, path);
    const retry = await stack.api('/api/projects/p/meetings/exhaust/transcription/retry', { method: 'POST' });
    expect(retry.status).toBe(202);
    // The retry's job carries the start's options (issue 10, item 1).
    expect((await stack.regular.getJob('transcription-p.exhaust'))?.data.options).toEqual({ language: 'en', task: 'transcribe' });
    const { final: done } = await waitForStatus(stack, 'p', 'exhaust', 'completed', 60_000);
    expect(done.error).toBeNull();
    expect(done.segmentsSaved).toBeGreaterThan(0);
  }, 180_000);
});

describe('timeouts', () => {
  it('an attempt over the regular queue timeout is aborted at a chunk boundary and retried from its checkpoints', async () => {
    // 100 s of speech (4 windows) takes well over the 5-s limit on a CPU, while the first window is saved within it.
    await registerMeeting(stack, 'p', 'slow', longformClip(100));
    const started = await startTranscription(stack, 'p', 'slow');
    expect(started.queue).toBe('regular');
    const worker = stack.processes.find((p) => p.name === 'rt-a')!;
    const timedOut = await worker.waitForLog((l) => l.meetingId === 'slow' && String(l.msg).startsWith('job attempt failed'), 60_000);
    expect(JSON.stringify(timedOut)).toMatch(/time limit of 5000 ms \(regular queue\)/);
    const second = await worker.waitForLog((l) => l.msg === 'job started' && l.meetingId === 'slow' && l.attempt === 2, 30_000);
    expect(Number(second.resumedChunks)).toBeGreaterThan(0);
    const meeting = await stack.db.collection('meetings').findOne({ _id: 'p.slow' as never });
    expect(meeting?.transcriptionStatus).toBe('processing');
  }, 180_000);

  it('long audio is routed to the large queue, whose limit scales with duration, and completes', async () => {
    await registerMeeting(stack, 'p', 'long', longformClip(110));
    const started = await startTranscription(stack, 'p', 'long');
    expect(started.queue).toBe('large');
    const job = await stack.large.getJob('transcription-p.long');
    expect(job?.data.timeoutMs).toBe(Math.ceil(110 * 1000 * 2));
    await waitForStatus(stack, 'p', 'long', 'completed', 240_000);
    const done = await settledJob(stack.large, 'transcription-p.long', 'completed');
    expect(done.attemptsMade).toBe(1);
    const { duplicateKeys } = await storedSegments(stack, 'long');
    expect(duplicateKeys).toEqual([]);
  }, 300_000);
});
