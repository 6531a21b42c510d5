/**
 * The API with its own redis-server stopped: starts are recorded and answered
 * 'deferred' at once, Redis-backed routes answer 503 promptly, status still
 * answers from MongoDB, and the reconciler enqueues the deferred start once
 * Redis is back.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meetingKey } from '../../src/core/meetings/meeting-key.js';
import { jobIdFor } from '../../src/core/queues.js';
import { type ServerHandle, startRedisServer } from '../helpers/servers.js';
import { type ApiHarness, createHarness, JFK, uploadForm } from './api-harness.js';

let redis: ServerHandle;
let h: ApiHarness;
let meetingId: string;

async function timed(pending: Promise<Response>): Promise<{ res: Response; ms: number }> {
  const started = Date.now();
  const res = await pending;
  return { res, ms: Date.now() - started };
}

beforeAll(async () => {
  redis = await startRedisServer({ aof: false });
  h = await createHarness({ redisUrl: redis.url });
  const res = await h.request('/api/projects/p1/meetings', { method: 'POST', body: uploadForm(await readFile(JFK)) });
  expect(res.status).toBe(201);
  meetingId = ((await res.json()) as { meetingId: string }).meetingId;
  await redis.stop();
});

afterAll(async () => {
  await h?.close();
  await redis?.dispose();
});

describe('with Redis down', () => {
  it('start answers 202 deferred within 2 s and records the request, with its options, in MongoDB', async () => {
    const { res, ms } = await timed(
      h.request(`/api/projects/p1/meetings/${meetingId}/transcription/start`, {
        method: 'POST',
        body: JSON.stringify({ language: 'de', task: 'translate' }),
        headers: { 'Content-Type': 'application/json' },
      }),
    );
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ jobId: jobIdFor(meetingKey('p1', meetingId)), queue: 'regular', state: 'deferred' });
    expect(ms).toBeLessThan(2000);
    const doc = await h.meetings.get('p1', meetingId);
    expect(doc.transcriptionRequestedAt).toBeInstanceOf(Date);
    expect(doc.jobId).toBe(jobIdFor(meetingKey('p1', meetingId)));
    expect(doc.transcriptionOptions).toEqual({ language: 'de', task: 'translate' });
  });

  it('a second start is still deferred, not an error', async () => {
    const { res, ms } = await timed(h.request(`/api/projects/p1/meetings/${meetingId}/transcription/start`, { method: 'POST' }));
    expect(res.status).toBe(202);
    expect(((await res.json()) as { state: string }).state).toBe('deferred');
    expect(ms).toBeLessThan(2000);
  });

  it('queue metrics and job status answer 503 UNAVAILABLE with Retry-After within 2 s', async () => {
    for (const path of ['/api/queues/metrics', `/api/jobs/${jobIdFor(meetingKey('p1', meetingId))}`]) {
      const { res, ms } = await timed(h.request(path));
      expect(res.status, path).toBe(503);
      expect(res.headers.get('Retry-After')).toMatch(/^\d+$/);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('UNAVAILABLE');
      expect(Object.keys(body.error)).toEqual(['code', 'message']);
      expect(ms).toBeLessThan(2000);
    }
  });

  it('status still answers from MongoDB, with attempts null', async () => {
    const { res, ms } = await timed(h.request(`/api/projects/p1/meetings/${meetingId}/transcription`));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ meetingId, status: 'pending', attempts: null, jobState: 'unknown', jobId: jobIdFor(meetingKey('p1', meetingId)) });
    expect(ms).toBeLessThan(2000);
  });

  it('/readyz answers 503 naming Redis; /healthz stays 200', async () => {
    const { res, ms } = await timed(Promise.resolve(h.app.request('/readyz')));
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ error: { code: 'UNAVAILABLE' }, checks: { mongo: 'ok', redis: 'down' } });
    expect(ms).toBeLessThan(2000);
    expect((await h.app.request('/healthz')).status).toBe(200);
  });

  it('/metrics still answers, without queue gauges', async () => {
    const res = await h.request('/metrics');
    expect(res.status).toBe(200);
    expect(await res.text()).not.toMatch(/^meno_queue_jobs\{/m);
  });
});

describe('after Redis is back', () => {
  it('reconcile() enqueues the deferred start with its options, and the API sees the job', async () => {
    await redis.start();
    await expect.poll(() => h.queues.ping(), { timeout: 10_000 }).toBe(true);
    const report = await h.service.reconcile();
    expect(report.enqueued).toBe(1);
    // The options of the start made while Redis was down (issue 10, item 1).
    expect((await h.queues.getJobStatus(jobIdFor(meetingKey('p1', meetingId))))?.data.options).toEqual({ language: 'de', task: 'translate' });
    const job = await h.request(`/api/jobs/${jobIdFor(meetingKey('p1', meetingId))}`);
    expect(job.status).toBe(200);
    expect(await job.json()).toMatchObject({ status: 'waiting', data: { meetingId } });
    const start = await h.request(`/api/projects/p1/meetings/${meetingId}/transcription/start`, { method: 'POST' });
    expect(((await start.json()) as { state: string }).state).toBe('existing');
    expect((await h.app.request('/readyz')).status).toBe(200);
  });
});
