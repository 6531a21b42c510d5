/**
 * Webhooks through the real processes: an API process (which runs the
 * dispatcher and the delivery worker), a worker process transcribing with
 * whisper-tiny, and receiver processes on loopback. The worker's own
 * completion produces the event; a receiver that never answers in time (the
 * callbackUrl) costs the transcription nothing.
 */
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JFK } from '../helpers/fixtures.js';
import { registerMeeting, waitForStatus } from '../helpers/meetings.js';
import { type Stack, startStack } from '../helpers/stack.js';
import { type Receiver, startReceiver } from '../helpers/webhook-receivers.js';

let stack: Stack;
let fast: Receiver;
let slow: Receiver;

beforeAll(async () => {
  [fast, slow] = await Promise.all([startReceiver(), startReceiver({ delayMs: 60_000 })]);
  stack = await startStack({
    env: {
      WEBHOOK_ALLOWED_NETWORKS: '127.0.0.1/32',
      WEBHOOK_TIMEOUT_MS: '1000',
      WEBHOOK_BACKOFF_MS: '500',
      WEBHOOK_BACKOFF_MAX_MS: '1000',
      WEBHOOK_DISPATCH_INTERVAL_MS: '200',
    },
  });
  await stack.startApi();
  await stack.startWorker('webhook-e2e');
}, 90_000);
afterAll(async () => {
  await stack?.dispose();
  await Promise.all([fast?.stop(), slow?.stop()]);
});

describe('webhooks end to end', () => {
  it('a meeting the worker completes is announced, signed, to the endpoint; a stalled callback receiver does not hold anything up', async () => {
    const created = await stack.api('/api/projects/e2e/webhooks', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: fast.url(), events: ['transcription.completed', 'transcription.failed'] }),
    });
    expect(created.status).toBe(201);
    const { secret, endpointId } = (await created.json()) as { secret: string; endpointId: string };

    await registerMeeting(stack, 'e2e', 'jfk', JFK);
    const refused = await stack.api('/api/projects/e2e/meetings/jfk/transcription/start', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ callbackUrl: 'http://169.254.169.254/latest/meta-data/' }),
    });
    expect(refused.status).toBe(400);
    const started = await stack.api('/api/projects/e2e/meetings/jfk/transcription/start', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ callbackUrl: slow.url('/cb') }),
    });
    expect(started.status).toBe(202);

    await waitForStatus(stack, 'e2e', 'jfk', 'completed', 120_000);
    const [got] = await fast.waitFor(1, 15_000);
    const event = new Webhook(secret).verify(got!.body, got!.headers) as { type: string; data: { meetingId: string; progress: number } };
    expect(event).toMatchObject({ type: 'transcription.completed', data: { meetingId: 'jfk', progress: 100 } });

    // The callback receiver got the same event and never answered within WEBHOOK_TIMEOUT_MS: it is retried, nothing else waits on it.
    await slow.waitFor(2, 15_000);
    expect(slow.received().every((r) => r.headers['webhook-id'] === got!.headers['webhook-id'])).toBe(true);
    const log = (await (await stack.api('/api/projects/e2e/webhooks/callback/deliveries')).json()) as { deliveries: { status: string; lastError: string }[] };
    expect(log.deliveries[0]).toMatchObject({ status: 'pending', lastError: expect.stringMatching(/no answer within 1000 ms/) });
    const endpointLog = (await (await stack.api(`/api/projects/e2e/webhooks/${endpointId}/deliveries`)).json()) as { deliveries: { status: string }[] };
    expect(endpointLog.deliveries.map((d) => d.status)).toEqual(['delivered']);
  }, 200_000);
});
