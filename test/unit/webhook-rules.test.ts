import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { eventForTransition, meetingEventId } from '../../src/core/meetings/meeting-events.js';
import { parseCidr, ReceiverPolicy, ReceiverRefusedError } from '../../src/webhooks/receiver-address.js';
import { attemptsFor, retryDelayMs } from '../../src/webhooks/webhook-queue.js';
import { newWebhookSecret } from '../../src/webhooks/webhook.repository.js';
import { signatureHeaders } from '../../src/webhooks/webhook-sender.js';

describe('receiver policy (SSRF guard)', () => {
  const policy = new ReceiverPolicy();

  it.each([
    'http://127.0.0.1/hook',
    'http://127.1.2.3:8080/',
    'http://localhost/',
    'http://api.localhost/',
    'http://[::1]/',
    'http://169.254.169.254/latest/meta-data/',
    'http://169.254.10.1/',
    'http://[fd00:ec2::254]/',
    'http://[fe80::1]/',
    'http://0.0.0.0/',
    'http://[::]/',
    'http://224.0.0.1/',
    'http://[::ffff:127.0.0.1]/',
    'http://[::ffff:a9fe:a9fe]/',
    'http://100.100.100.200/',
    'ftp://example.com/',
    'file:///etc/passwd',
    'gopher://example.com/',
    'http://user:pass@example.com/',
    'http://user@example.com/',
    'not a url',
    `https://example.com/${'x'.repeat(2100)}`,
  ])('refuses %s', (url) => {
    expect(() => policy.checkUrl(url)).toThrow(ReceiverRefusedError);
  });

  it.each(['https://hooks.example.com/meno', 'http://10.1.2.3:8080/hook', 'http://192.168.1.10/', 'http://[fd12::1]/', 'https://8.8.8.8/'])('accepts %s', (url) => {
    expect(policy.checkUrl(url)).toBe(new URL(url).toString());
  });

  it('drops the fragment', () => {
    expect(policy.checkUrl('https://example.com/a?b=1#frag')).toBe('https://example.com/a?b=1');
  });

  it('lets an operator allow refused networks, and only those', () => {
    const allowing = new ReceiverPolicy(['127.0.0.1/32', 'fe80::/64']);
    expect(allowing.checkUrl('http://127.0.0.1:9/')).toBe('http://127.0.0.1:9/');
    expect(allowing.checkUrl('http://[fe80::5]/')).toBe('http://[fe80::5]/');
    expect(() => allowing.checkUrl('http://127.0.0.2/')).toThrow(ReceiverRefusedError);
    expect(() => allowing.checkUrl('http://169.254.169.254/')).toThrow(ReceiverRefusedError);
    // An IPv4-mapped IPv6 address is the IPv4 address it maps.
    expect(allowing.checkUrl('http://[::ffff:127.0.0.1]/')).toBe('http://[::ffff:7f00:1]/');
  });

  it('resolves names at delivery and refuses one that points at a refused address', async () => {
    await expect(policy.resolve(new URL('http://localhost:9/'))).rejects.toThrow(ReceiverRefusedError);
    await expect(new ReceiverPolicy(['127.0.0.0/8', '::1/128']).resolve(new URL('http://localhost:9/'))).resolves.toMatchObject({ address: expect.stringMatching(/^(127\.|::1)/) });
    await expect(policy.resolve(new URL('http://10.0.0.1/'))).resolves.toEqual({ address: '10.0.0.1', family: 4 });
  });

  it('parses CIDRs', () => {
    expect(parseCidr('10.0.0.0/8')).toEqual({ address: '10.0.0.0', prefix: 8, type: 'ipv4' });
    expect(parseCidr('fd00::/8')).toEqual({ address: 'fd00::', prefix: 8, type: 'ipv6' });
    expect(parseCidr('127.0.0.1')).toEqual({ address: '127.0.0.1', prefix: 32, type: 'ipv4' });
    for (const bad of ['10.0.0.0/33', 'example.com/8', '10.0.0.0/8/1', '10.0.0.0/x', '']) expect(parseCidr(bad)).toBeNull();
  });
});

describe('retry schedule', () => {
  const defaults = { backoffMs: 5000, backoffMaxMs: 3600_000, retryWindowMs: 25 * 3600_000 };

  it('doubles from WEBHOOK_BACKOFF_MS and never waits longer than WEBHOOK_BACKOFF_MAX_MS', () => {
    expect([1, 2, 3, 4].map((n) => retryDelayMs(n, defaults))).toEqual([5000, 10_000, 20_000, 40_000]);
    expect(retryDelayMs(11, defaults)).toBe(3600_000);
    expect(retryDelayMs(1000, defaults)).toBe(3600_000);
  });

  it('keeps retrying for at least 24 hours with the defaults', () => {
    const attempts = attemptsFor(defaults);
    let waited = 0;
    for (let retry = 1; retry < attempts; retry++) waited += retryDelayMs(retry, defaults);
    expect(waited).toBeGreaterThanOrEqual(24 * 3600_000);
    expect(attempts).toBe(35);
    expect(waited - retryDelayMs(attempts - 1, defaults)).toBeLessThan(25 * 3600_000);
  });
});

describe('meeting events', () => {
  const meeting = { _id: 'm1', projectId: 'p', transcriptionStatus: 'processing' as const, transcriptionRequestedAt: new Date(1000) };

  it('an end produces one event whose id depends on meeting, request and type only', () => {
    const a = eventForTransition(meeting, 'completed', new Date(5000));
    const b = eventForTransition(meeting, 'completed', new Date(9000));
    expect(a?.id).toMatch(/^evt_[0-9a-f]{32}$/);
    expect(a?.id).toBe(b?.id);
    expect(a?.type).toBe('transcription.completed');
    expect(eventForTransition(meeting, 'failed', new Date())?.id).not.toBe(a?.id);
    expect(eventForTransition({ ...meeting, transcriptionRequestedAt: new Date(2000) }, 'completed', new Date())?.id).not.toBe(a?.id);
    expect(meetingEventId('p2', 'm1', new Date(1000), 'transcription.completed')).not.toBe(a?.id);
  });

  it('no event for a change that does not end the meeting, or keeps it where it is', () => {
    expect(eventForTransition(meeting, 'processing', new Date())).toBeUndefined();
    expect(eventForTransition(meeting, undefined, new Date())).toBeUndefined();
    expect(eventForTransition({ ...meeting, transcriptionStatus: 'completed' }, 'completed', new Date())).toBeUndefined();
    expect(eventForTransition({ ...meeting, transcriptionStatus: 'failed' }, 'pending', new Date())).toBeUndefined();
  });

  it('carries the request\'s callbackUrl', () => {
    expect(eventForTransition({ ...meeting, transcriptionOptions: { callbackUrl: 'https://x/cb' } }, 'failed', new Date())?.callbackUrl).toBe('https://x/cb');
  });
});

describe('signature headers', () => {
  it('are what the standardwebhooks verifier accepts, and nothing else', () => {
    const secret = newWebhookSecret();
    const payload = JSON.stringify({ type: 'transcription.completed', data: { text: 'ünïcödé ✓' } });
    const headers = signatureHeaders({ id: 'evt_1', payload, secrets: [secret] }, new Date());
    expect(new Webhook(secret).verify(payload, headers)).toEqual(JSON.parse(payload));
    expect(() => new Webhook(secret).verify(`${payload} `, headers)).toThrow();
    expect(() => new Webhook(secret).verify(payload, { ...headers, 'webhook-id': 'evt_2' })).toThrow();
    expect(() => new Webhook(newWebhookSecret()).verify(payload, headers)).toThrow();
  });

  it('during a rotation carry one signature per secret, each accepted alone', () => {
    const [next, previous] = [newWebhookSecret(), newWebhookSecret()];
    const payload = '{"type":"transcription.completed"}';
    const headers = signatureHeaders({ id: 'evt_2', payload, secrets: [next, previous] }, new Date());
    expect(headers['webhook-signature']).toMatch(/^v1,\S+ v1,\S+$/);
    expect(new Webhook(next).verify(payload, headers)).toEqual(JSON.parse(payload));
    expect(new Webhook(previous).verify(payload, headers)).toEqual(JSON.parse(payload));
  });
});
