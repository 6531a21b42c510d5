/**
 * The per-key limits on their own: token buckets and upload slots on a
 * clock the test moves, and the middleware's 429 answers through app.request.
 * The same limits over real sockets are in test/integration/api-abuse.test.ts.
 */
import { Hono } from 'hono';
import { requestId } from 'hono/request-id';
import { describe, expect, it } from 'vitest';
import type { AppEnv } from '../../src/api/env.js';
import { apiKeyAuth } from '../../src/api/middleware/auth.js';
import { errorHandler, notFoundHandler } from '../../src/api/middleware/error-handler.js';
import { rateLimit, TokenBuckets } from '../../src/api/middleware/rate-limit.js';
import { UploadSlots, uploadSlots } from '../../src/api/middleware/upload-slots.js';
import { ApiKeyResolver } from '../../src/core/keys/api-key-resolver.js';
import { memoryLogger } from '../helpers/services.js';

describe('TokenBuckets', () => {
  const clock = () => {
    let t = 0;
    return { now: () => t, advance: (ms: number) => (t += ms) };
  };

  it('lets a fresh key spend its burst, then refuses with the whole seconds until the next token', () => {
    const c = clock();
    const buckets = new TokenBuckets({ perMinute: 30, burst: 3, now: c.now });
    for (let i = 0; i < 3; i++) expect(buckets.take('a')).toEqual({ ok: true });
    expect(buckets.take('a')).toEqual({ ok: false, retryAfterSec: 2, firstRefusal: true });
    c.advance(500);
    expect(buckets.take('a')).toEqual({ ok: false, retryAfterSec: 2, firstRefusal: false });
    c.advance(1000);
    expect(buckets.take('a')).toEqual({ ok: false, retryAfterSec: 1, firstRefusal: false });
    c.advance(500);
    expect(buckets.take('a')).toEqual({ ok: true });
  });

  it('does not charge refused requests, and keeps keys apart', () => {
    const c = clock();
    const buckets = new TokenBuckets({ perMinute: 60, burst: 1, now: c.now });
    expect(buckets.take('a').ok).toBe(true);
    for (let i = 0; i < 50; i++) expect(buckets.take('a').ok).toBe(false);
    expect(buckets.take('b').ok).toBe(true);
    c.advance(1000);
    expect(buckets.take('a').ok).toBe(true);
  });

  it('refills at the rate up to the burst, not beyond', () => {
    const c = clock();
    const buckets = new TokenBuckets({ perMinute: 600, burst: 5, now: c.now });
    for (let i = 0; i < 5; i++) buckets.take('a');
    c.advance(3_600_000);
    let granted = 0;
    while (buckets.take('a').ok) granted++;
    expect(granted).toBe(5);
  });

  it('forgets buckets that have filled up again, so the map does not grow with old keys', () => {
    const c = clock();
    const buckets = new TokenBuckets({ perMinute: 60, burst: 10, now: c.now });
    for (let i = 0; i < 1000; i++) buckets.take(`key-${i}`);
    expect(buckets.size).toBe(1000);
    c.advance(61_000);
    buckets.take('busy');
    expect(buckets.size).toBe(1);
  });

  it('needs a positive rate and a burst of at least one', () => {
    expect(() => new TokenBuckets({ perMinute: 0, burst: 1 })).toThrow(/perMinute/);
    expect(() => new TokenBuckets({ perMinute: 1, burst: 0 })).toThrow(/burst/);
  });
});

describe('UploadSlots', () => {
  it('hands out perKey slots per key; a release is idempotent and empties the map', () => {
    const slots = new UploadSlots(2);
    const a1 = slots.acquire('a');
    const a2 = slots.acquire('a');
    expect(a1 && a2).toBeTruthy();
    expect(slots.acquire('a')).toBeUndefined();
    expect(slots.acquire('b')).toBeDefined();
    a1!();
    a1!();
    expect(slots.used('a')).toBe(1);
    expect(slots.acquire('a')).toBeDefined();
    expect(slots.acquire('a')).toBeUndefined();
  });
});

describe('limit middleware', () => {
  const KEY = 'k-0123456789';
  const auth = { Authorization: `Bearer ${KEY}` };

  function app(limits: { perMinute: number; burst: number; uploads: number }) {
    const { logger, lines } = memoryLogger();
    const hono = new Hono<AppEnv>();
    hono.use(requestId());
    hono.notFound(notFoundHandler);
    hono.onError(errorHandler(logger));
    let inHandler: () => void = () => {};
    let finish: () => void = () => {};
    hono
      .use('*', apiKeyAuth(new ApiKeyResolver({ envKeys: [KEY, 'other-key'], cacheTtlMs: 0, logger })), rateLimit({ perMinute: limits.perMinute, burst: limits.burst }, logger))
      .use('/up', uploadSlots(limits.uploads, logger))
      .get('/x', (c) => c.text('ok'))
      .get('/up', (c) => c.text('not an upload'))
      .post('/up', async (c) => {
        inHandler();
        await new Promise<void>((resolve) => (finish = resolve));
        return c.text('stored', 201);
      })
      .post('/v1/x', (c) => c.text('ok'));
    return {
      hono,
      lines,
      /** Resolves once a POST /up is inside its handler; `finish()` lets it answer. */
      entered: () => new Promise<void>((resolve) => (inHandler = resolve)),
      finish: () => finish(),
    };
  }

  it('answers 429 RATE_LIMITED with Retry-After in the error envelope, and logs the key by hash once', async () => {
    const { hono, lines } = app({ perMinute: 60, burst: 2, uploads: 0 });
    expect((await hono.request('/x', { headers: auth })).status).toBe(200);
    expect((await hono.request('/x', { headers: auth })).status).toBe(200);
    for (let i = 0; i < 3; i++) {
      const res = await hono.request('/x', { headers: auth });
      expect(res.status).toBe(429);
      expect(res.headers.get('Retry-After')).toBe('1');
      expect(await res.json()).toEqual({ error: { code: 'RATE_LIMITED', message: expect.stringMatching(/60 requests per minute/) } });
    }
    expect((await hono.request('/x', { headers: { Authorization: 'Bearer other-key' } })).status).toBe(200);
    const warned = lines().filter((l) => l.msg === 'api key over its rate limit; refusing with 429');
    expect(warned).toHaveLength(1);
    expect(warned[0].apiKeyId).toMatch(/^[0-9a-f]{16}$/);
    expect(JSON.stringify(lines())).not.toContain(KEY);
  });

  it('answers OpenAI clients in their envelope (rate_limit_error) under /v1', async () => {
    const { hono } = app({ perMinute: 60, burst: 1, uploads: 0 });
    await hono.request('/v1/x', { method: 'POST', headers: auth });
    const res = await hono.request('/v1/x', { method: 'POST', headers: auth });
    expect(res.status).toBe(429);
    expect(res.headers.get('Retry-After')).toBe('1');
    expect(await res.json()).toMatchObject({ error: { type: 'rate_limit_error', code: 'rate_limited' } });
  });

  it('never counts unauthenticated requests against a key', async () => {
    const { hono } = app({ perMinute: 60, burst: 1, uploads: 0 });
    for (let i = 0; i < 5; i++) expect((await hono.request('/x', { headers: { Authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await hono.request('/x', { headers: auth })).status).toBe(200);
  });

  it('is off with perMinute 0', async () => {
    const { hono } = app({ perMinute: 0, burst: 1, uploads: 0 });
    for (let i = 0; i < 20; i++) expect((await hono.request('/x', { headers: auth })).status).toBe(200);
  });

  it('caps POSTs in flight per key, gives the slot back when the handler is done, and leaves other methods alone', async () => {
    const t = app({ perMinute: 0, burst: 1, uploads: 1 });
    const entered = t.entered();
    const first = t.hono.request('/up', { method: 'POST', headers: auth });
    await entered;
    const refused = await t.hono.request('/up', { method: 'POST', headers: auth });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('Retry-After'))).toBeGreaterThanOrEqual(1);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('RATE_LIMITED');
    expect((await t.hono.request('/up', { headers: auth })).status).toBe(200);
    t.finish();
    expect((await first).status).toBe(201);
    const again = t.entered();
    const second = t.hono.request('/up', { method: 'POST', headers: auth });
    await again;
    t.finish();
    expect((await second).status).toBe(201);
  });
});
