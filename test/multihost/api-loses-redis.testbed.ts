/**
 * Scenario c: the API host loses Redis (its packets to Redis's address are
 * dropped; MongoDB on the same core host stays reachable). Starts are
 * answered promptly and deferred; nothing reaches the queue while the API
 * is cut off; once the route is back the API's reconciler enqueues them,
 * and a worker completes them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JFK, LIBRI_CLIP } from '../helpers/fixtures.js';
import { registerMeeting, transcriptionStatus, waitForStatus } from '../helpers/meetings.js';
import { blockAddress, unblockAddress } from './network.js';
import { startTestbedStack, type TestbedStack } from './testbed.js';

let stack: TestbedStack;
let blocked = false;

beforeAll(async () => {
  // No worker yet: the API's reconciler is the only one that could enqueue the deferred starts.
  stack = await startTestbedStack({ env: { REDIS_COMMAND_TIMEOUT_MS: '500', RECONCILE_INTERVAL_MS: '1000' } });
  await stack.startApi();
}, 120_000);
afterAll(async () => {
  if (blocked) unblockAddress(stack.topology, 'api', stack.topology.redisAddress);
  await stack?.dispose();
});

const queuedJobs = async (): Promise<number> => {
  const counts = await stack.regular.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed');
  return Object.values(counts).reduce((a, b) => a + b, 0);
};

describe('scenario c: the API host loses Redis', () => {
  it('starts are deferred, then enqueued by the reconciler when the link returns, and complete', async () => {
    const ids = ['c-one', 'c-two'];
    await registerMeeting(stack, 'p', 'c-one', JFK);
    await registerMeeting(stack, 'p', 'c-two', LIBRI_CLIP);

    blockAddress(stack.topology, 'api', stack.topology.redisAddress);
    blocked = true;
    const api = stack.processes.find((p) => p.name === 'api')!;
    for (const id of ids) {
      const startedAt = Date.now();
      const res = await stack.api(`/api/projects/p/meetings/${id}/transcription/start`, { method: 'POST' });
      const ms = Date.now() - startedAt;
      expect(res.status, await res.clone().text()).toBe(202);
      expect(((await res.json()) as { state: string }).state).toBe('deferred');
      expect(ms).toBeLessThan(3000);
    }
    expect((await fetch(`${stack.apiUrl()}/readyz`, { signal: AbortSignal.timeout(5000) })).status).toBe(503);
    // Several reconcile intervals pass: with the API cut off from Redis nothing is enqueued, nothing is lost.
    await new Promise((r) => setTimeout(r, 3500));
    expect(await queuedJobs()).toBe(0);
    for (const id of ids) expect((await transcriptionStatus(stack, 'p', id)).status).toBe('pending');

    unblockAddress(stack.topology, 'api', stack.topology.redisAddress);
    blocked = false;
    const restoredAt = Date.now();
    await expect.poll(queuedJobs, { timeout: 20_000, interval: 200 }).toBe(ids.length);
    console.log(`api loses redis: both deferred starts enqueued ${Date.now() - restoredAt} ms after the route came back`);
    const enqueued = api.logs().filter((l) => l.msg === 'reconciler enqueued a live meeting without a live job');
    expect(enqueued.length).toBe(ids.length);
    await expect.poll(async () => (await fetch(`${stack.apiUrl()}/readyz`)).status, { timeout: 10_000 }).toBe(200);

    await stack.startWorkerOn('w1');
    for (const id of ids) await waitForStatus(stack, 'p', id, 'completed', 180_000);
  }, 400_000);
});
