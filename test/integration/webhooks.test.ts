/**
 * Signed webhooks end to end inside one API (real Redis, FerretDB, HTTP
 * routes, dispatcher and delivery worker) against real receiver processes on
 * loopback (allowed here by WEBHOOK_ALLOWED_NETWORKS). Meetings are ended
 * through the repository's transitions, as a worker or a client would.
 */
import { randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { MeetingAudio } from '../../src/core/meetings/meeting.repository.js';
import { type ApiHarness, createHarness } from './api-harness.js';
import { type Receiver, type ReceivedRequest, startReceiver } from '../helpers/webhook-receivers.js';

const audio: MeetingAudio = { path: '/data/a.wav', source: 'upload', durationSec: 60, sizeBytes: 1000, sha256: 'ab', codec: 'pcm_s16le', formatName: 'wav' };

/** Retries at 200 ms, 400 ms, 800 ms, then every 1 s, for 60 s; attempts time out after 1 s. */
const WEBHOOK_ENV = {
  WEBHOOK_ALLOWED_NETWORKS: '127.0.0.1/32',
  WEBHOOK_BACKOFF_MS: '200',
  WEBHOOK_BACKOFF_MAX_MS: '1000',
  WEBHOOK_RETRY_WINDOW_SEC: '60',
  WEBHOOK_TIMEOUT_MS: '1000',
  WEBHOOK_DISPATCH_INTERVAL_MS: '100',
  WEBHOOK_PROGRESS_INTERVAL_SEC: '1',
};

let h: ApiHarness;
const receivers: Receiver[] = [];
// Deliveries pass through FerretDB, Redis and a receiver process: give a loaded machine room.
vi.setConfig({ testTimeout: 90_000 });

beforeAll(async () => {
  h = await createHarness({ env: WEBHOOK_ENV, webhookDelivery: true });
});
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.stop()));
});
afterAll(async () => {
  await h?.close();
});

async function receiver(options: Parameters<typeof startReceiver>[0] = {}): Promise<Receiver> {
  const r = await startReceiver(options);
  receivers.push(r);
  return r;
}

interface DeliveryBody {
  deliveryId: string;
  eventId: string;
  endpointId: string;
  meetingId: string;
  eventType: string;
  status: string;
  attempts: number;
  redeliveries: number;
  lastStatusCode: number | null;
  attemptLog: { attempt: number; statusCode: number | null; error: string | null; durationMs: number }[];
}

interface WebhookBody {
  type: string;
  timestamp: string;
  data: { eventId: string; meetingId: string; projectId: string; status: string; progress: number; error: { code: string | null; message: string } | null };
}

async function json<T = Record<string, unknown>>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

async function register(projectId: string, url: string, events = ['transcription.completed', 'transcription.failed', 'transcription.canceled']) {
  const res = await h.request(`/api/projects/${projectId}/webhooks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ url, events }),
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as { endpointId: string; secret: string; url: string };
}

/** A meeting that a worker picks up; returns its epoch. */
async function processing(projectId: string, options: { callbackUrl?: string } = {}): Promise<{ meetingId: string; epoch: number }> {
  const meetingId = randomUUID().replaceAll('-', '');
  await h.meetings.create({ id: meetingId, projectId, audio });
  await h.meetings.recordTranscriptionRequest(meetingId, 'regular', `transcription-${meetingId}`, options);
  const claim = await h.meetings.claim(meetingId);
  return { meetingId, epoch: claim!.epoch };
}

function verify(secret: string, req: ReceivedRequest): WebhookBody {
  return new Webhook(secret).verify(req.body, req.headers) as WebhookBody;
}

async function deliveries(projectId: string, endpointId: string): Promise<DeliveryBody[]> {
  const res = await h.request(`/api/projects/${projectId}/webhooks/${endpointId}/deliveries`);
  expect(res.status).toBe(200);
  return (await json<{ deliveries: DeliveryBody[] }>(res)).deliveries;
}

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 40_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('endpoint registration', () => {
  it('creates, lists, reads, updates and deletes an endpoint; the secret is shown only at creation', async () => {
    const created = await register('reg', 'http://127.0.0.1:9/hook');
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    const list = await json<{ endpoints: unknown[] }>(await h.request('/api/projects/reg/webhooks'));
    expect(list.endpoints).toHaveLength(1);
    expect(JSON.stringify(list)).not.toContain(created.secret);
    const patched = await h.request(`/api/projects/reg/webhooks/${created.endpointId}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ enabled: false, events: ['transcription.progress'] }),
    });
    expect(await json(patched)).toMatchObject({ enabled: false, events: ['transcription.progress'], url: 'http://127.0.0.1:9/hook' });
    expect((await h.request(`/api/projects/other/webhooks/${created.endpointId}`)).status).toBe(404);
    expect((await h.request(`/api/projects/reg/webhooks/${created.endpointId}`, { method: 'DELETE' })).status).toBe(204);
    expect((await h.request(`/api/projects/reg/webhooks/${created.endpointId}`)).status).toBe(404);
  });
});

describe('delivery', () => {
  it('signs a completed event so that the package\'s own verifier accepts it; the callbackUrl gets it signed with the project secret', async () => {
    const endpointReceiver = await receiver();
    const callbackReceiver = await receiver();
    const { endpointId, secret } = await register('sig', endpointReceiver.url());
    const { meetingId, epoch } = await processing('sig', { callbackUrl: callbackReceiver.url('/cb') });
    await h.meetings.complete(meetingId, epoch);

    const [req] = await endpointReceiver.waitFor(1);
    const body = verify(secret, req!);
    expect(body).toMatchObject({ type: 'transcription.completed', data: { meetingId, projectId: 'sig', status: 'completed', progress: 100, error: null } });
    expect(req!.headers['webhook-id']).toMatch(/^evt_[0-9a-f]{32}$/);
    expect(body.data.eventId).toBe(req!.headers['webhook-id']);
    expect(() => new Webhook(`whsec_${Buffer.from('another secret, 24 bytes').toString('base64')}`).verify(req!.body, req!.headers)).toThrow();

    const [cb] = await callbackReceiver.waitFor(1);
    const projectSecret = (await json<{ secret: string }>(await h.request('/api/projects/sig/webhooks/callback-secret'))).secret;
    expect(verify(projectSecret, cb!).data.meetingId).toBe(meetingId);
    expect(cb!.headers['webhook-id']).toBe(req!.headers['webhook-id']);

    const log = await until(() => deliveries('sig', endpointId), (d) => d[0]?.status === 'delivered');
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({ eventType: 'transcription.completed', meetingId, attempts: 1, lastStatusCode: 200 });
    expect(log[0]!.attemptLog).toEqual([expect.objectContaining({ attempt: 1, statusCode: 200, error: null })]);
    const callbackLog = await until(() => deliveries('sig', 'callback'), (d) => d[0]?.status === 'delivered');
    expect(callbackLog[0]).toMatchObject({ meetingId, endpointId: 'callback' });
    // The outbox is emptied once the event is recorded.
    await until(() => h.meetings.findById(meetingId), (m) => m?.pendingEvents === undefined);
  });

  it('retries a receiver that answers 500 until it answers 200, logging every attempt', async () => {
    const r = await receiver({ plan: [500, 500, 200] });
    const { endpointId, secret } = await register('retry', r.url());
    const { meetingId, epoch } = await processing('retry');
    await h.meetings.fail(meetingId, { errorMessage: 'bad audio', attempts: 3, lastAttempt: new Date(), code: 'BAD_AUDIO' }, epoch);

    const got = await r.waitFor(3);
    expect(new Set(got.map((g) => g.headers['webhook-id'])).size).toBe(1);
    expect(got.map((g) => g.body).every((b) => b === got[0]!.body)).toBe(true);
    expect(verify(secret, got[2]!)).toMatchObject({ type: 'transcription.failed', data: { status: 'failed', error: { code: 'BAD_AUDIO', message: 'bad audio' } } });
    const [d] = await until(() => deliveries('retry', endpointId), (l) => l[0]?.status === 'delivered');
    expect(d!.attemptLog.map((a) => a.statusCode)).toEqual([500, 500, 200]);
    const metrics = await h.metrics.registry.getSingleMetric('meno_webhook_attempts_total')!.get();
    const count = (outcome: string) => metrics.values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
    expect(count('retry')).toBeGreaterThanOrEqual(2);
    expect(count('delivered')).toBeGreaterThanOrEqual(1);
    // The waits are at least the schedule's: 200 ms, then 400 ms (a loaded machine only adds to them).
    expect(got[1]!.at - got[0]!.at).toBeGreaterThanOrEqual(190);
    expect(got[2]!.at - got[1]!.at).toBeGreaterThanOrEqual(390);
  });

  it('a receiver that is down for 10 s and comes back gets the event exactly once', async () => {
    const r = await receiver();
    const { endpointId, secret } = await register('down', r.url());
    await r.stop();
    const { meetingId, epoch } = await processing('down');
    await h.meetings.complete(meetingId, epoch);
    await until(() => deliveries('down', endpointId), (l) => (l[0]?.attempts ?? 0) >= 2);
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    const failedAttempts = (await deliveries('down', endpointId))[0]!.attemptLog.length;
    expect(failedAttempts).toBeGreaterThanOrEqual(5);
    await r.restart();
    const [got] = await r.waitFor(1, 5000);
    expect(verify(secret, got!).data.meetingId).toBe(meetingId);
    const [d] = await until(() => deliveries('down', endpointId), (l) => l[0]?.status === 'delivered');
    expect(d!.attemptLog.at(-1)).toMatchObject({ statusCode: 200 });
    expect(d!.attemptLog.slice(0, -1).every((a) => a.statusCode === null && a.error)).toBe(true);
    // Nothing else arrives: the delivery is done.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(r.received()).toHaveLength(1);
  });

  it('a slow receiver is cut off at WEBHOOK_TIMEOUT_MS and retried, and never holds up the meeting', async () => {
    const r = await receiver({ delayMs: 5000 });
    const { endpointId } = await register('slow', r.url());
    const { meetingId, epoch } = await processing('slow');
    const started = performance.now();
    await h.meetings.complete(meetingId, epoch);
    // The receiver takes 5 s to answer; the meeting's end does not wait for it (it does not even call it).
    expect(performance.now() - started).toBeLessThan(3000);
    expect((await h.meetings.findById(meetingId))?.transcriptionStatus).toBe('completed');
    const [d] = await until(() => deliveries('slow', endpointId), (l) => (l[0]?.attempts ?? 0) >= 2);
    expect(d!.status).toBe('pending');
    expect(d!.attemptLog[0]).toMatchObject({ statusCode: null, error: expect.stringMatching(/no answer within 1000 ms/) });
    expect(d!.attemptLog[0]!.durationMs).toBeLessThan(2000);
  });

  it('gives every event of a meeting its own id, once: a repeated end makes no second event, a retried request does', async () => {
    const r = await receiver();
    const { secret } = await register('ids', r.url());
    const { meetingId, epoch } = await processing('ids');
    const failure = { errorMessage: 'x', attempts: 1, lastAttempt: new Date() };
    await h.meetings.fail(meetingId, failure, epoch);
    // The same end again (a reconciler racing the worker): refused, no second event.
    const requestedAt = (await h.meetings.findById(meetingId))!.transcriptionRequestedAt;
    expect(await h.meetings.failRequest(meetingId, failure, requestedAt)).toBe(false);
    await expect(h.meetings.fail(meetingId, failure, epoch)).rejects.toThrow();
    // Dispatch passes racing each other record nothing twice.
    await Promise.all([h.webhooks.dispatcher!.runOnce(), h.webhooks.dispatcher!.runOnce()]);
    await r.waitFor(1);
    // A client retry is a new request: its end is a new event.
    await h.meetings.retry('ids', meetingId);
    const second = await h.meetings.claim(meetingId);
    await h.meetings.complete(meetingId, second!.epoch);
    const got = await r.waitFor(2);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(r.received()).toHaveLength(2);
    const ids = got.map((g) => g.headers['webhook-id']);
    expect(new Set(ids).size).toBe(2);
    expect(got.map((g) => verify(secret, g).type)).toEqual(['transcription.failed', 'transcription.completed']);
  });

  it('a canceled meeting is announced once, even when canceled again', async () => {
    const r = await receiver();
    const { secret } = await register('cancel', r.url());
    const { meetingId } = await processing('cancel');
    await h.meetings.cancel('cancel', meetingId);
    await h.meetings.cancel('cancel', meetingId);
    const [got] = await r.waitFor(1);
    expect(verify(secret, got!)).toMatchObject({ type: 'transcription.canceled', data: { meetingId, status: 'canceled' } });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(r.received()).toHaveLength(1);
  });

  it('rotates a secret: deliveries are signed with the new and, for a day, the old one too', async () => {
    const r = await receiver();
    const { endpointId, secret: old } = await register('rotate', r.url());
    const res = await h.request(`/api/projects/rotate/webhooks/${endpointId}/rotate-secret`, { method: 'POST' });
    expect(res.status).toBe(200);
    const rotated = await json<{ secret: string; previousSecretValidUntil: string }>(res);
    expect(rotated.secret).not.toBe(old);
    expect(Date.parse(rotated.previousSecretValidUntil) - Date.now()).toBeGreaterThan(23 * 3600_000);
    const { meetingId, epoch } = await processing('rotate');
    await h.meetings.complete(meetingId, epoch);
    const [got] = await r.waitFor(1);
    expect(verify(rotated.secret, got!).data.meetingId).toBe(meetingId);
    expect(verify(old, got!).data.meetingId).toBe(meetingId);
    expect((await h.request(`/api/projects/other/webhooks/${endpointId}/rotate-secret`, { method: 'POST' })).status).toBe(404);
  });

  it('redelivers a delivered event with the same webhook-id and body', async () => {
    const r = await receiver();
    const { endpointId, secret } = await register('redo', r.url());
    const { meetingId, epoch } = await processing('redo');
    await h.meetings.complete(meetingId, epoch);
    const [first] = await r.waitFor(1);
    const [d] = await until(() => deliveries('redo', endpointId), (l) => l[0]?.status === 'delivered');
    const res = await h.request(`/api/projects/redo/webhooks/${endpointId}/deliveries/${d!.deliveryId}/redeliver`, { method: 'POST' });
    expect(res.status).toBe(202);
    expect(await json(res)).toMatchObject({ deliveryId: d!.deliveryId, status: 'pending', redeliveries: 1 });
    const [, again] = await r.waitFor(2);
    expect(again!.headers['webhook-id']).toBe(first!.headers['webhook-id']);
    expect(again!.body).toBe(first!.body);
    verify(secret, again!);
    const [after] = await until(() => deliveries('redo', endpointId), (l) => l[0]?.status === 'delivered' && l[0]?.attempts === 2);
    expect(after!.attemptLog).toHaveLength(2);
  });

  it('sends progress events only to endpoints that opt in, at most one per interval per meeting', async () => {
    const progress = await receiver();
    const endsOnly = await receiver();
    await register('prog', progress.url(), ['transcription.progress']);
    await register('prog', endsOnly.url());
    const { meetingId, epoch } = await processing('prog');
    for (let chunk = 0; chunk < 5; chunk++) {
      await h.meetings.checkpointChunk(meetingId, epoch, chunk, (chunk + 1) * 10);
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    await progress.waitFor(1);
    await h.meetings.complete(meetingId, epoch);
    await endsOnly.waitFor(1);
    const got = progress.received().map((g) => JSON.parse(g.body) as WebhookBody);
    // Five checkpoints 150 ms apart and WEBHOOK_PROGRESS_INTERVAL_SEC=1: fewer events than checkpoints, at least 1 s apart, no end event.
    expect(got.length).toBeGreaterThanOrEqual(1);
    expect(got.length).toBeLessThan(5);
    expect(got.every((g) => g.type === 'transcription.progress')).toBe(true);
    const times = got.map((g) => Date.parse(g.timestamp));
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(1000);
    expect(new Set(got.map((g) => g.data.eventId)).size).toBe(got.length);
    expect(endsOnly.received().map((g) => JSON.parse(g.body).type)).toEqual(['transcription.completed']);
  });

  it('prunes finished deliveries, their attempts and their events once they are older than the log keeps them', async () => {
    const r = await receiver({ plan: [500] });
    const { endpointId } = await register('prune', r.url());
    const { meetingId, epoch } = await processing('prune');
    await h.meetings.complete(meetingId, epoch);
    await r.waitFor(1);
    const before = await h.mongo.db.collection('webhook_deliveries').countDocuments({ status: { $ne: 'pending' } });
    expect(before).toBeGreaterThan(0);
    const removed = await h.webhooks.repository.prune(new Date(Date.now() + 1000));
    expect(removed).toBe(before);
    expect(await h.mongo.db.collection('webhook_deliveries').countDocuments({ status: { $ne: 'pending' } })).toBe(0);
    // The delivery still being retried keeps its event and log.
    const [pending] = await deliveries('prune', endpointId);
    expect(pending).toMatchObject({ meetingId, status: 'pending' });
    expect(await h.webhooks.repository.findEvent(pending!.eventId)).not.toBeNull();
    expect(await h.mongo.db.collection('webhook_attempts').countDocuments({ deliveryId: pending!.deliveryId })).toBeGreaterThan(0);
  });
});
