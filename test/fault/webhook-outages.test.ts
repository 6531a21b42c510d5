/**
 * Webhooks while Redis is away: a meeting that ends during the outage is
 * delivered once Redis is back, and a delivery whose job Redis lost (data
 * loss, FLUSHALL) is queued again. Own redis-server, real receiver process.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MeetingAudio } from '../../src/core/meetings/meeting.repository.js';
import { type ApiHarness, createHarness } from '../integration/api-harness.js';
import { type ServerHandle, startRedisServer } from '../helpers/servers.js';
import { type Receiver, startReceiver } from '../helpers/webhook-receivers.js';

const audio: MeetingAudio = { path: '/data/a.wav', source: 'upload', durationSec: 60, sizeBytes: 1000, sha256: 'ab', codec: 'pcm_s16le', formatName: 'wav' };

let redis: ServerHandle;
let h: ApiHarness;
const receivers: Receiver[] = [];

beforeAll(async () => {
  redis = await startRedisServer({ aof: true });
  h = await createHarness({
    redisUrl: redis.url,
    webhookDelivery: true,
    env: {
      WEBHOOK_ALLOWED_NETWORKS: '127.0.0.1/32',
      WEBHOOK_BACKOFF_MS: '200',
      WEBHOOK_BACKOFF_MAX_MS: '500',
      WEBHOOK_RETRY_WINDOW_SEC: '120',
      WEBHOOK_TIMEOUT_MS: '1000',
      // Pending deliveries are re-added after 60 intervals: 6 s.
      WEBHOOK_DISPATCH_INTERVAL_MS: '100',
    },
  });
});
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.stop()));
  if (!redis.running()) await redis.start();
});
afterAll(async () => {
  await h?.close();
  await redis?.dispose();
});

async function register(projectId: string, url: string): Promise<{ endpointId: string; secret: string }> {
  const res = await h.request(`/api/projects/${projectId}/webhooks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ url, events: ['transcription.completed'] }),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { endpointId: string; secret: string };
}

async function deliveryLog(projectId: string, endpointId: string): Promise<{ status: string; attempts: number }[]> {
  const res = await h.request(`/api/projects/${projectId}/webhooks/${endpointId}/deliveries`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { deliveries: { status: string; attempts: number }[] }).deliveries;
}

async function until(ok: () => Promise<boolean>, timeoutMs = 40_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function processingMeeting(projectId: string): Promise<{ meetingId: string; epoch: number }> {
  const meetingId = randomUUID().replaceAll('-', '');
  await h.meetings.create({ id: meetingId, projectId, audio });
  await h.meetings.recordTranscriptionRequest(meetingId, 'regular', `transcription-${meetingId}`);
  return { meetingId, epoch: (await h.meetings.claim(meetingId))!.epoch };
}

describe('webhooks while Redis is away', () => {
  it('a meeting that completes while Redis is down is delivered once Redis is back', async () => {
    const r = await startReceiver();
    receivers.push(r);
    const { endpointId, secret } = await register('outage', r.url());
    const { meetingId, epoch } = await processingMeeting('outage');
    await redis.stop();
    await h.meetings.complete(meetingId, epoch);
    // Recorded from MongoDB alone: the delivery waits as pending, nothing is sent.
    await until(async () => (await deliveryLog('outage', endpointId)).length === 1);
    // The outbox is cleared right after the event is recorded.
    await until(async () => (await h.meetings.findById(meetingId))?.pendingEvents === undefined);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(r.received()).toHaveLength(0);
    expect((await deliveryLog('outage', endpointId))[0]).toMatchObject({ status: 'pending', attempts: 0 });

    await redis.start();
    const [got] = await r.waitFor(1, 20_000);
    expect((new Webhook(secret).verify(got!.body, got!.headers) as { data: { meetingId: string } }).data.meetingId).toBe(meetingId);
    await until(async () => (await deliveryLog('outage', endpointId))[0]?.status === 'delivered');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(r.received()).toHaveLength(1);
  }, 90_000);

  it('a delivery whose job Redis lost (FLUSHALL) is queued again and delivered', async () => {
    const r = await startReceiver({ plan: [503] });
    receivers.push(r);
    const { endpointId } = await register('flush', r.url());
    const { meetingId, epoch } = await processingMeeting('flush');
    await h.meetings.complete(meetingId, epoch);
    await r.waitFor(1);
    await r.stop();
    const client = new Redis(redis.url);
    await client.flushall();
    client.disconnect();
    const healthy = await startReceiver();
    receivers.push(healthy);
    await h.request(`/api/projects/flush/webhooks/${endpointId}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: healthy.url() }),
    });
    const [got] = await healthy.waitFor(1, 20_000);
    expect((JSON.parse(got!.body) as { data: { meetingId: string } }).data.meetingId).toBe(meetingId);
    await until(async () => (await deliveryLog('flush', endpointId))[0]?.status === 'delivered');
  }, 90_000);
});
