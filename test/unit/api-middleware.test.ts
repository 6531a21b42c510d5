import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { requestId } from 'hono/request-id';
import { MongoServerSelectionError } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { zValidator } from '@hono/zod-validator';
import type { AppEnv } from '../../src/api/env.js';
import { apiKeyAuth } from '../../src/api/middleware/auth.js';
import { errorHandler, notFoundHandler, toErrorResponse } from '../../src/api/middleware/error-handler.js';
import { jsonBodyLimit, optionalJsonBody } from '../../src/api/middleware/json-body.js';
import { idSchema, validationHook } from '../../src/api/validation.js';
import { BadAudioError, ConflictError, NotFoundError, UnavailableError } from '../../src/core/errors.js';
import { ApiKeyResolver } from '../../src/core/keys/api-key-resolver.js';
import { memoryLogger, silentLogger } from '../helpers/services.js';

function appWith(build: (app: Hono<AppEnv>) => void) {
  const { logger, lines } = memoryLogger();
  const app = new Hono<AppEnv>();
  app.use(requestId());
  app.notFound(notFoundHandler);
  app.onError(errorHandler(logger));
  build(app);
  return { app, lines };
}

describe('apiKeyAuth', () => {
  const { app } = appWith((a) => a.use('/p/*', apiKeyAuth(new ApiKeyResolver({ envKeys: ['k1', 'a-longer-second-key'], cacheTtlMs: 0, logger: silentLogger() }))).get('/p/x', (c) => c.text('ok')));

  it('accepts each configured key, case-insensitive scheme', async () => {
    for (const header of ['Bearer k1', 'bearer a-longer-second-key', 'Bearer   k1  ']) {
      expect((await app.request('/p/x', { headers: { Authorization: header } })).status).toBe(200);
    }
  });

  it('refuses missing, malformed, prefix and wrong keys with 401 UNAUTHORIZED', async () => {
    for (const header of [undefined, '', 'k1', 'Basic k1', 'Bearer k', 'Bearer k1x', 'Bearer k1 k1']) {
      const res = await app.request('/p/x', { headers: header === undefined ? {} : { Authorization: header } });
      expect(res.status, String(header)).toBe(401);
      expect(res.headers.get('WWW-Authenticate')).toBe('Bearer');
      expect(await res.json()).toEqual({ error: { code: 'UNAUTHORIZED', message: expect.any(String) } });
    }
  });
});

describe('error mapping', () => {
  it('maps AppErrors by their own status and code', () => {
    expect(toErrorResponse(new NotFoundError('no meeting'))).toEqual({ status: 404, body: { error: { code: 'NOT_FOUND', message: 'no meeting' } } });
    expect(toErrorResponse(new BadAudioError('corrupt')).status).toBe(400);
    expect(toErrorResponse(new ConflictError('x', { details: { state: 'failed' } })).body.error.details).toEqual({ state: 'failed' });
  });

  it('maps HTTPException by status, and MongoDB outages to 503', () => {
    expect(toErrorResponse(new HTTPException(400, { message: 'Malformed JSON in request body' })).body.error).toEqual({
      code: 'VALIDATION_FAILED',
      message: 'Malformed JSON in request body',
    });
    expect(toErrorResponse(new HTTPException(413)).body.error.code).toBe('PAYLOAD_TOO_LARGE');
    const mongoDown = new MongoServerSelectionError('connect ECONNREFUSED', { type: 'Unknown', servers: new Map() } as never);
    expect(toErrorResponse(mongoDown)).toEqual({ status: 503, body: { error: { code: 'UNAVAILABLE', message: 'database unavailable' } } });
  });

  it('hides unknown errors behind a bare 500 and logs them with the stack', async () => {
    const { app, lines } = appWith((a) =>
      a.get('/boom', () => {
        throw new Error('secret detail at /srv/data/file.wav');
      }),
    );
    const res = await app.request('/boom');
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ error: { code: 'INTERNAL', message: 'internal error' } });
    expect(text).not.toContain('secret');
    const logged = lines().find((l) => l.msg === 'request failed') as { err: { stack: string } } | undefined;
    expect(logged?.err.stack).toContain('secret detail');
  });

  it('adds Retry-After to 503 answers', async () => {
    const { app } = appWith((a) =>
      a.get('/down', () => {
        throw new UnavailableError('queue unavailable (getQueueMetrics): Connection is closed.');
      }),
    );
    const res = await app.request('/down');
    expect(res.status).toBe(503);
    expect(Number(res.headers.get('Retry-After'))).toBeGreaterThan(0);
  });

  it('answers unknown routes with the 404 envelope', async () => {
    const { app } = appWith(() => {});
    const res = await app.request('/nowhere', { method: 'DELETE' });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'no route for DELETE /nowhere' } });
  });
});

describe('validation and JSON bodies', () => {
  const schema = z.strictObject({ language: z.string().optional() });
  const { app } = appWith((a) =>
    a
      .post('/ids/:id', zValidator('param', z.object({ id: idSchema }), validationHook), (c) => c.json(c.req.valid('param')))
      .post('/opt', jsonBodyLimit(100), optionalJsonBody(), zValidator('json', schema, validationHook), (c) => c.json(c.req.valid('json'))),
  );

  it('accepts ids of 1-64 letters, digits, - and _ only', async () => {
    for (const id of ['a', 'A-b_9', 'x'.repeat(64)]) expect((await app.request(`/ids/${id}`, { method: 'POST' })).status).toBe(200);
    for (const id of ['x'.repeat(65), 'a.b', 'a%20b', 'a%2Fb', '..x', 'é']) {
      const res = await app.request(`/ids/${id}`, { method: 'POST' });
      expect(res.status, id).toBe(400);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('VALIDATION_FAILED');
      expect(body.error.message).toMatch(/^invalid param: id: expected 1-64 letters/);
    }
  });

  it('reads no body or an empty body as {}', async () => {
    expect(await (await app.request('/opt', { method: 'POST' })).json()).toEqual({});
    expect(await (await app.request('/opt', { method: 'POST', body: '', headers: { 'Content-Type': 'application/json' } })).json()).toEqual({});
  });

  it('validates a JSON body, refusing malformed, unknown fields, non-JSON and oversize bodies', async () => {
    const send = (body: string, type = 'application/json') => app.request('/opt', { method: 'POST', body, headers: { 'Content-Type': type } });
    expect(await (await send('{"language":"en"}')).json()).toEqual({ language: 'en' });
    const cases: [Response, number, string][] = [
      [await send('{"language":'), 400, 'VALIDATION_FAILED'],
      [await send('{"other":1}'), 400, 'VALIDATION_FAILED'],
      [await send('language=en', 'application/x-www-form-urlencoded'), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      [await send(JSON.stringify({ language: 'x'.repeat(200) })), 413, 'PAYLOAD_TOO_LARGE'],
    ];
    for (const [res, status, code] of cases) {
      expect(res.status).toBe(status);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe(code);
    }
  });
});
