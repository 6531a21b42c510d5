/**
 * The composition root on a real socket: startApi() on port 0 with fetch,
 * uploads over HTTP (Content-Length and chunked), close(), and the process
 * entrypoint's exit codes.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHandle, startApi } from '../../src/api/main.js';
import type { Config } from '../../src/core/config.js';
import { silentLogger, testNamespace } from '../helpers/services.js';
import { API_KEY, JFK, listFiles, uploadForm } from './api-harness.js';

const ns = testNamespace();
const MAX_UPLOAD = 400_000;
let storageDir: string;
let config: Config;
let api: ApiHandle;
let base: string;
const auth = { Authorization: `Bearer ${API_KEY}` };

beforeAll(async () => {
  storageDir = await mkdtemp(join(tmpdir(), 'meno-api-server-'));
  config = ns.config({ API_KEYS: API_KEY, HOST: '127.0.0.1', PORT: '0', STORAGE_DIR: storageDir, MAX_UPLOAD_BYTES: String(MAX_UPLOAD) });
  api = await startApi(config, silentLogger());
  base = `http://127.0.0.1:${api.port}`;
});

afterAll(async () => {
  await api?.close();
  await ns.cleanup();
  await rm(storageDir, { recursive: true, force: true });
});

describe('startApi', () => {
  it('serves health, auth and an upload over HTTP', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect((await fetch(`${base}/api/queues/metrics`)).status).toBe(401);
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    expect((await fetch(`${base}/metrics`, { headers: auth })).status).toBe(200);
    const res = await fetch(`${base}/api/projects/p1/meetings`, { method: 'POST', body: uploadForm(await readFile(JFK)), headers: auth });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { meetingId: string };
    const start = await fetch(`${base}/api/projects/p1/meetings/${body.meetingId}/transcription/start`, { method: 'POST', headers: auth });
    expect(start.status).toBe(202);
    expect(((await start.json()) as { state: string }).state).toBe('queued');
  });

  it('refuses an upload whose Content-Length is over the limit, and stays usable', async () => {
    const big = new Uint8Array(MAX_UPLOAD * 5);
    const res = await fetch(`${base}/api/projects/p1/meetings`, { method: 'POST', body: uploadForm(big), headers: auth });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('PAYLOAD_TOO_LARGE');
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await listFiles(storageDir)).filter((f) => f.startsWith('.incoming'))).toEqual([]);
  });

  it('refuses a chunked upload over the limit while streaming and removes the partial file', async () => {
    const boundary = 'b0undary';
    const head = new TextEncoder().encode(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.wav"\r\n\r\n`);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 0) controller.enqueue(head);
        else if (sent > MAX_UPLOAD * 20) controller.close();
        else controller.enqueue(new Uint8Array(32 * 1024));
        sent += 32 * 1024;
      },
    });
    const res = await fetch(`${base}/api/projects/p1/meetings`, {
      method: 'POST',
      body,
      headers: { ...auth, 'Content-Type': `multipart/form-data; boundary=${boundary}` },
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    expect((await listFiles(storageDir)).filter((f) => f.startsWith('.incoming'))).toEqual([]);
  });
});

describe('src/api/main.ts', () => {
  const tsx = ['--import', 'tsx', 'src/api/main.ts'];

  it('refuses to start without API keys (exit 1, clear message)', async () => {
    const child = spawn(process.execPath, tsx, { env: { ...process.env, API_KEYS: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).toBe(1);
    expect(stderr).toContain('API_KEYS is empty');
  });

  it('starts, then exits 0 on SIGTERM after closing everything', async () => {
    const child = spawn(process.execPath, tsx, {
      env: {
        ...process.env,
        API_KEYS: API_KEY,
        HOST: '127.0.0.1',
        PORT: '0',
        STORAGE_DIR: storageDir,
        REDIS_URL: ns.redisUrl,
        MONGODB_URL: ns.mongoUrl,
        MONGODB_DB: ns.dbName,
        QUEUE_PREFIX: ns.prefix,
        LOG_LEVEL: 'info',
        RECONCILE_INTERVAL_MS: '60000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    const listening = new Promise<string>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        const match = /"url":"(http:\/\/[^"]+)"/.exec(stdout);
        if (match) resolve(match[1]);
      });
    });
    const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
    const url = await Promise.race([listening, exited.then(() => Promise.reject(new Error(`exited early: ${stdout}`)))]);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(stdout).not.toContain(API_KEY);
    child.kill('SIGTERM');
    const [code] = await exited;
    expect(code).toBe(0);
    expect(stdout).toContain('api closed');
  });
});
