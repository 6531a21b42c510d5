/**
 * Prometheus metrics scraped during a real job: the worker's series
 * (chunks, job duration, real-time factor, busy/up, event-loop lag, ...)
 * and the API's queue-depth gauge.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { longformClip } from '../helpers/fixtures.js';
import { registerMeeting, startTranscription, waitForStatus } from '../helpers/meetings.js';
import type { ServiceProcess } from '../helpers/processes.js';
import { type Stack, startStack } from '../helpers/stack.js';

let stack: Stack;
let worker: ServiceProcess;
let workerUrl: string;

beforeAll(async () => {
  stack = await startStack();
  await stack.startApi();
  worker = await stack.startWorker('metrics-w');
  const line = await worker.waitForLog((l) => l.msg === 'worker metrics on /metrics and /healthz');
  workerUrl = `http://127.0.0.1:${Number(line.port)}`;
}, 90_000);
afterAll(async () => {
  await stack?.dispose();
});

const text = async (url: string) => (await fetch(url, { signal: AbortSignal.timeout(5000) })).text();

describe('metrics and readiness', () => {
  it('expose the named series while a job runs and after it', async () => {
    const readyz = await fetch(`${workerUrl}/readyz`);
    expect(readyz.status, await readyz.clone().text()).toBe(200);
    await registerMeeting(stack, 'p', 'scrape', longformClip(60));
    await startTranscription(stack, 'p', 'scrape');
    await worker.waitForLog((l) => l.msg === 'chunk saved' && l.meetingId === 'scrape', 60_000);

    const during = await text(`${workerUrl}/metrics`);
    expect(during).toMatch(/^meno_worker_busy\{[^}]*\} 1$/m);
    expect(during).toMatch(/^meno_worker_up\{[^}]*\} 1$/m);
    expect(during).toMatch(/^meno_chunks_total\{[^}]*queue="regular"[^}]*\} [1-9]/m);
    expect(during).toMatch(/^meno_event_loop_lag_seconds\{[^}]*\} /m);
    const apiDuring = await (await stack.api('/metrics')).text();
    expect(apiDuring).toMatch(/^meno_queue_jobs\{[^}]*queue="transcription-queue"[^}]*state="active"[^}]*\} 1$/m);

    await waitForStatus(stack, 'p', 'scrape', 'completed', 120_000);
    const after = await text(`${workerUrl}/metrics`);
    expect(after).toMatch(/^meno_job_duration_seconds_count\{[^}]*outcome="completed"[^}]*\} 1$/m);
    expect(after).toMatch(/^meno_realtime_factor_count\{[^}]*\} 1$/m);
    for (const name of ['meno_job_retries_total', 'meno_job_stalls_total', 'meno_job_failures_total']) {
      expect(after).toContain(`# TYPE ${name} counter`);
    }
    expect(after).toMatch(/^meno_worker_busy\{[^}]*\} 0$/m);
  }, 180_000);

  it('readiness reflects MongoDB', async () => {
    await stack.mongo.stop();
    try {
      const res = await fetch(`${workerUrl}/readyz`, { signal: AbortSignal.timeout(10_000) });
      expect(res.status).toBe(503);
      expect(((await res.json()) as { checks: Record<string, boolean> }).checks).toMatchObject({ mongodb: false, redis: true, model: true });
      const api = await fetch(`${stack.apiUrl()}/readyz`, { signal: AbortSignal.timeout(10_000) });
      expect(api.status).toBe(503);
    } finally {
      await stack.mongo.start();
    }
  }, 60_000);
});
