/**
 * Abuse limits on a real socket (startApi on port 0, real Redis and
 * FerretDB): the per-key rate limit, the cap on uploads in flight per key,
 * and the header and body-idle timeouts that disconnect stalled clients.
 * Each describe runs its own API with small limits; what a refused or cut
 * request leaves behind is checked in MongoDB, Redis and the staging folder.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHandle, startApi } from '../../src/api/main.js';
import type { Config } from '../../src/core/config.js';
import { memoryLogger, silentLogger, type TestNamespace, testNamespace } from '../helpers/services.js';
import { API_KEY, JFK, listFiles, OTHER_KEY, uploadForm } from './api-harness.js';

const THIRD_KEY = 'third-key-0123456789';
const M = '/api/projects/p/meetings';
let jfk: Buffer;

interface Server {
  ns: TestNamespace;
  config: Config;
  api: ApiHandle;
  base: string;
  storageDir: string;
  staging: string;
  /** Meetings in MongoDB and keys under the queue prefix in Redis (the queues make a few at start). */
  recorded(): Promise<{ meetings: number; redisKeys: number }>;
  close(): Promise<void>;
}

async function startServer(env: Record<string, string>, logger = silentLogger()): Promise<Server> {
  const ns = testNamespace();
  const storageDir = await mkdtemp(join(tmpdir(), 'meno-api-abuse-'));
  const config = ns.config({ API_KEYS: `${API_KEY},${OTHER_KEY},${THIRD_KEY}`, HOST: '127.0.0.1', PORT: '0', STORAGE_DIR: storageDir, ...env });
  const api = await startApi(config, logger);
  const mongo = await MongoClient.connect(ns.mongoUrl, { serverSelectionTimeoutMS: 3000 });
  const redis = new Redis(ns.redisUrl, { maxRetriesPerRequest: 1 });
  return {
    ns,
    config,
    api,
    base: `http://127.0.0.1:${api.port}`,
    storageDir,
    staging: join(storageDir, '.incoming'),
    async recorded() {
      const meetings = await mongo.db(ns.dbName).collection('meetings').countDocuments();
      const keys = await redis.keys(`${ns.prefix}:*`);
      return { meetings, redisKeys: keys.length };
    },
    async close() {
      await api.close();
      redis.disconnect();
      await mongo.close();
      await ns.cleanup();
      await rm(storageDir, { recursive: true, force: true });
    },
  };
}

/** Partial uploads in the staging folder. */
async function partFiles(s: Server): Promise<string[]> {
  return (await readdir(s.staging).catch(() => [] as string[])).filter((n) => n.endsWith('.part'));
}

/** Polls `check` (every 20 ms) until it holds; fails after `timeoutMs`. */
async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const auth = (key: string) => ({ Authorization: `Bearer ${key}` });

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * An upload of jfk.wav over node:http whose body is held back after its
 * first 4 KiB until `finish()`: it stays in flight as long as the test wants.
 * `answer` resolves with the response, or with status 0 once the connection is gone without one.
 */
function heldUpload(s: Server, key: string) {
  const boundary = `held-${randomUUID()}`;
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const req = request(`${s.base}${M}`, {
    method: 'POST',
    headers: { ...auth(key), 'Content-Type': `multipart/form-data; boundary=${boundary}`, 'Content-Length': head.length + jfk.length + tail.length },
  });
  const answer = new Promise<Answer>((resolve) => {
    req.on('response', (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', () => resolve({ status: 0, headers: {}, body: '' }));
  });
  req.write(Buffer.concat([head, jfk.subarray(0, 4096)]));
  return {
    answer,
    finish: () => req.end(Buffer.concat([jfk.subarray(4096), tail])),
    abort: () => req.destroy(),
  };
}

function code(answer: Answer): string | undefined {
  return (JSON.parse(answer.body) as { error?: { code: string } }).error?.code;
}

beforeAll(async () => {
  jfk = await readFile(JFK);
});

describe('per-key rate limit', () => {
  let s: Server;
  beforeAll(async () => {
    s = await startServer({ RATE_LIMIT_PER_MINUTE: '60', RATE_LIMIT_BURST: '5' });
  });
  afterAll(() => s?.close());

  it('refuses a burst beyond RATE_LIMIT_BURST with 429 and Retry-After, leaves other keys alone, and lets the key in again after Retry-After', async () => {
    const before = await s.recorded();
    const burst = await Promise.all(Array.from({ length: 8 }, () => fetch(`${s.base}/api/openapi.json`, { headers: auth(API_KEY) })));
    const statuses = burst.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
    const refused = burst.filter((r) => r.status === 429);
    for (const res of refused) {
      expect(Number(res.headers.get('Retry-After'))).toBeGreaterThanOrEqual(1);
      expect(await res.json()).toEqual({ error: { code: 'RATE_LIMITED', message: expect.stringContaining('rate limit') } });
    }
    await Promise.all(burst.filter((r) => r.status === 200).map((r) => r.arrayBuffer()));

    // The budget is one per key, across /api and /metrics; a refused upload stores nothing.
    expect((await fetch(`${s.base}/metrics`, { headers: auth(API_KEY) })).status).toBe(429);
    const upload = await fetch(`${s.base}${M}`, { method: 'POST', body: uploadForm(jfk), headers: auth(API_KEY) });
    expect(upload.status).toBe(429);
    expect(await s.recorded()).toEqual(before);
    expect(await listFiles(s.storageDir)).toEqual([]);

    expect((await fetch(`${s.base}/api/openapi.json`, { headers: auth(OTHER_KEY) })).status).toBe(200);
    expect((await fetch(`${s.base}/healthz`)).status).toBe(200);

    const last = await fetch(`${s.base}/api/openapi.json`, { headers: auth(API_KEY) });
    expect(last.status).toBe(429);
    const retryAfter = Number(last.headers.get('Retry-After'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(2);
    await new Promise((r) => setTimeout(r, retryAfter * 1000));
    expect((await fetch(`${s.base}/api/openapi.json`, { headers: auth(API_KEY) })).status).toBe(200);
  });
});

describe('uploads in flight per key', () => {
  let s: Server;
  beforeAll(async () => {
    s = await startServer({ MAX_CONCURRENT_UPLOADS_PER_KEY: '2', RATE_LIMIT_PER_MINUTE: '0' });
  });
  afterAll(() => s?.close());

  it('refuses the upload over MAX_CONCURRENT_UPLOADS_PER_KEY at once, before its body, while the others complete', async () => {
    const first = heldUpload(s, API_KEY);
    const second = heldUpload(s, API_KEY);
    await until('two uploads streaming', async () => (await partFiles(s)).length === 2);

    // The third one is answered although its body has not been sent.
    const third = heldUpload(s, API_KEY);
    const refused = await third.answer;
    expect(refused.status).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(code(refused)).toBe('RATE_LIMITED');
    third.abort();

    // Another key, and requests that are not uploads, are not held up.
    const other = await fetch(`${s.base}${M}`, { method: 'POST', body: uploadForm(jfk), headers: auth(OTHER_KEY) });
    expect(other.status).toBe(201);
    expect((await fetch(`${s.base}${M}`, { headers: auth(API_KEY) })).status).toBe(200);

    first.finish();
    second.finish();
    expect((await first.answer).status).toBe(201);
    expect((await second.answer).status).toBe(201);
    const after = await fetch(`${s.base}${M}`, { method: 'POST', body: uploadForm(jfk), headers: auth(API_KEY) });
    expect(after.status).toBe(201);
    expect((await s.recorded()).meetings).toBe(4);
  });

  it('documents the 429 and its Retry-After in the OpenAPI document', async () => {
    const doc = (await (await fetch(`${s.base}/api/openapi.json`, { headers: auth(OTHER_KEY) })).json()) as {
      paths: Record<string, Record<string, { security?: unknown[]; responses: Record<string, { headers?: Record<string, unknown> }> }>>;
      components: { schemas: { Error: { properties: { error: { properties: { code: { enum: string[] } } } } } } };
    };
    expect(doc.components.schemas.Error.properties.error.properties.code.enum).toContain('RATE_LIMITED');
    // Every keyed operation is rate limited; those without a key (security: [], e.g. health, console files) are not.
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (Array.isArray(op.security) && op.security.length === 0) continue;
        expect(op.responses[429]?.headers, `${method} ${path}`).toHaveProperty('Retry-After');
      }
    }
  });

  it('gives the slot back whatever the outcome: refused file, client gone mid-upload', async () => {
    const refusedFile = await fetch(`${s.base}${M}`, { method: 'POST', body: uploadForm(Buffer.from('not audio at all, just text')), headers: auth(THIRD_KEY) });
    expect(refusedFile.status).toBe(415);
    const gone = heldUpload(s, THIRD_KEY);
    await until('the upload streaming', async () => (await partFiles(s)).length === 1);
    gone.abort();
    await until('the partial file removed', async () => (await partFiles(s)).length === 0);

    // Both slots are free again: two uploads get in, a third does not.
    const a = heldUpload(s, THIRD_KEY);
    const b = heldUpload(s, THIRD_KEY);
    await until('two uploads streaming', async () => (await partFiles(s)).length === 2);
    const c = heldUpload(s, THIRD_KEY);
    expect((await c.answer).status).toBe(429);
    c.abort();
    a.finish();
    b.finish();
    expect([(await a.answer).status, (await b.answer).status]).toEqual([201, 201]);
  });
});

describe('slow clients', () => {
  const HEADERS_TIMEOUT_MS = 500;
  const IDLE_TIMEOUT_MS = 600;
  let s: Server;
  let lines: () => Record<string, unknown>[];
  beforeAll(async () => {
    const memory = memoryLogger('info');
    lines = memory.lines;
    s = await startServer(
      { HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS), UPLOAD_IDLE_TIMEOUT_MS: String(IDLE_TIMEOUT_MS), OPENAI_WAIT_SEC: '2', LOG_LEVEL: 'info' },
      memory.logger,
    );
  });
  afterAll(() => s?.close());

  /** Resolves when the server closes the socket: after how long, and what it sent. */
  function closed(socket: ReturnType<typeof connect>): Promise<{ ms: number; received: string }> {
    const started = performance.now();
    let received = '';
    socket.on('data', (d: Buffer) => (received += d.toString()));
    socket.on('error', () => {});
    return new Promise((resolve) => socket.on('close', () => resolve({ ms: performance.now() - started, received })));
  }

  it('disconnects a client that stalls in its request headers within HTTP_HEADERS_TIMEOUT_MS (+ the check interval), and keeps serving others', async () => {
    const socket = connect(s.api.port, '127.0.0.1');
    const done = closed(socket);
    socket.write(`POST ${M} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${API_KEY}\r\nContent-Type: multipart/form-`);
    expect((await fetch(`${s.base}/healthz`)).status).toBe(200);
    expect((await fetch(`${s.base}${M}`, { headers: auth(API_KEY) })).status).toBe(200);
    const { ms, received } = await done;
    expect(ms).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 50);
    expect(ms).toBeLessThan(HEADERS_TIMEOUT_MS + 3000);
    expect(received).toMatch(/^HTTP\/1\.1 408/);
  });

  it('disconnects an upload whose body stalls for UPLOAD_IDLE_TIMEOUT_MS, removes the partial file and records nothing', async () => {
    const before = await s.recorded();
    const boundary = 'stalled-boundary';
    const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\n`;
    const socket = connect(s.api.port, '127.0.0.1');
    const done = closed(socket);
    socket.write(
      `POST ${M} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${API_KEY}\r\n` +
        `Content-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${head.length + jfk.length + 100}\r\n\r\n`,
    );
    socket.write(Buffer.concat([Buffer.from(head), jfk.subarray(0, 8192)]));
    await until('the upload streaming', async () => (await partFiles(s)).length === 1);
    const stalledAt = performance.now();
    expect((await fetch(`${s.base}/healthz`)).status).toBe(200);
    expect((await fetch(`${s.base}/api/queues/metrics`, { headers: auth(API_KEY) })).status).toBe(200);
    await done;
    expect(performance.now() - stalledAt).toBeLessThan(IDLE_TIMEOUT_MS + 3000);
    await until('the partial file removed', async () => (await partFiles(s)).length === 0);
    expect(await s.recorded()).toEqual(before);
    expect(await listFiles(s.storageDir)).toEqual([]);
    expect(lines().some((l) => l.msg === 'request body stalled; closing the connection' && l.idleMs === IDLE_TIMEOUT_MS)).toBe(true);
  });

  it('keeps an upload that is slow but steady: pauses shorter than the idle timeout, longer than it in all', async () => {
    const boundary = 'steady-boundary';
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\n`),
      jfk,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const pieces = 5;
    const size = Math.ceil(body.length / pieces);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent >= body.length) return controller.close();
        if (sent > 0) await new Promise((r) => setTimeout(r, IDLE_TIMEOUT_MS / 2));
        controller.enqueue(body.subarray(sent, sent + size));
        sent += size;
      },
    });
    const started = performance.now();
    const res = await fetch(`${s.base}${M}`, {
      method: 'POST',
      body: stream,
      headers: { ...auth(API_KEY), 'Content-Type': `multipart/form-data; boundary=${boundary}` },
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(201);
    expect(performance.now() - started).toBeGreaterThan(IDLE_TIMEOUT_MS);
  });

  it('does not cut a request whose body is in while its handler works longer than the idle timeout (the /v1 wait)', async () => {
    const form = uploadForm(jfk, { model: 'whisper-1' });
    // No worker runs: the request waits OPENAI_WAIT_SEC (2 s, over three idle timeouts) and answers 504.
    const res = await fetch(`${s.base}/v1/audio/transcriptions`, { method: 'POST', body: form, headers: auth(API_KEY) });
    expect(res.status).toBe(504);
  });
});
