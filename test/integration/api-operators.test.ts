/**
 * Operator views on the real app, FerretDB and Redis: the admin browser
 * session (cookie opened with an admin key), bull-board behind it, and the
 * worker registry's heartbeats listed by GET /api/admin/workers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_COOKIE } from '../../src/api/admin-session.js';
import { WorkerRegistry, type WorkerHeartbeat } from '../../src/core/worker-registry.js';
import { type ApiHarness, createHarness, JFK, uploadForm } from './api-harness.js';
import { readFile } from 'node:fs/promises';

let h: ApiHarness;
let projectKey = '';

beforeAll(async () => {
  h = await createHarness();
  const res = await h.request('/api/admin/keys', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ projectId: 'p', name: 'ops-test' }) });
  expect(res.status).toBe(201);
  projectKey = ((await res.json()) as { key: string }).key;
});
afterAll(async () => {
  await h?.close();
});

async function signIn(): Promise<string> {
  const res = await h.request('/admin/session', { method: 'POST' });
  expect(res.status).toBe(204);
  const cookie = res.headers.get('set-cookie')!;
  expect(cookie).toMatch(new RegExp(`^${ADMIN_COOKIE}=[A-Za-z0-9_-]{43};`));
  return cookie.split(';')[0];
}

describe('admin session', () => {
  it('is opened only with an admin key, as an HttpOnly SameSite=Strict cookie for /admin', async () => {
    const res = await h.request('/admin/session', { method: 'POST' });
    const cookie = res.headers.get('set-cookie')!;
    expect(cookie).toContain('Path=/admin');
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
    expect(cookie).toContain('Max-Age=900');
    expect(cookie).not.toContain('Secure');
    const https = await h.request('/admin/session', { method: 'POST', headers: { 'X-Forwarded-Proto': 'https' } });
    expect(https.headers.get('set-cookie')).toContain('Secure');
    expect((await h.request('/admin/session', { method: 'POST', headers: { Authorization: `Bearer ${projectKey}` } })).status).toBe(403);
    expect((await h.request('/admin/session', { method: 'POST', headers: { Authorization: '' } })).status).toBe(401);
  });

  it('lets the browser into bull-board, which lists both transcription queues with their jobs', async () => {
    const meeting = await h.request('/api/projects/p/meetings', { method: 'POST', body: uploadForm(await readFile(JFK), { meetingId: 'ops1' }) });
    expect(meeting.status).toBe(201);
    expect((await h.request('/api/projects/p/meetings/ops1/transcription/start', { method: 'POST' })).status).toBe(202);
    const cookie = await signIn();
    const page = await h.request('/admin/queues', { headers: { Authorization: '', Cookie: cookie, Accept: 'text/html' } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('meno queues');
    // Its own script, served from @bull-board/ui behind the same session.
    expect(html).toContain('<base href="/admin/queues/"');
    const script = /src="(static\/js\/main[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const js = await h.request(`/admin/queues/${script}`, { headers: { Authorization: '', Cookie: cookie } });
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    const api = await h.request('/admin/queues/api/queues?activeQueue=&page=1&jobsPerPage=10', { headers: { Authorization: '', Cookie: cookie } });
    expect(api.status).toBe(200);
    const body = (await api.json()) as { queues: { name: string; counts: Record<string, number> }[] };
    const names = body.queues.map((q) => q.name).sort();
    expect(names).toEqual([h.config.queue.regularName, h.config.queue.largeName].sort());
    const regular = body.queues.find((q) => q.name === h.config.queue.regularName)!;
    expect(regular.counts.waiting + regular.counts.prioritized + (regular.counts.active ?? 0)).toBeGreaterThanOrEqual(1);
  });

  it('refuses bull-board without a session: browsers are sent to /admin, other clients get 401', async () => {
    const browser = await h.request('/admin/queues', { headers: { Authorization: '', Accept: 'text/html' } });
    expect(browser.status).toBe(303);
    expect(browser.headers.get('location')).toBe('/admin');
    const api = await h.request('/admin/queues/api/queues', { headers: { Authorization: '' } });
    expect(api.status).toBe(401);
    expect(((await api.json()) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED');
    const forged = await h.request('/admin/queues/api/queues', { headers: { Authorization: '', Cookie: `${ADMIN_COOKIE}=${'A'.repeat(43)}` } });
    expect(forged.status).toBe(401);
    // A bearer key is not a session: the board is for browsers.
    expect((await h.request('/admin/queues/api/queues')).status).toBe(401);
  });

  it('ends at sign-out, on every process (the token is gone from Redis)', async () => {
    const cookie = await signIn();
    expect((await h.request('/admin/queues/api/queues', { headers: { Authorization: '', Cookie: cookie } })).status).toBe(200);
    const out = await h.request('/admin/session', { method: 'DELETE', headers: { Authorization: '', Cookie: cookie } });
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toMatch(new RegExp(`^${ADMIN_COOKIE}=;.*Max-Age=0`));
    expect((await h.request('/admin/queues/api/queues', { headers: { Authorization: '', Cookie: cookie } })).status).toBe(401);
  });
});

describe('worker registry', () => {
  const heartbeat = (workerId: string): WorkerHeartbeat => ({
    workerId,
    host: 'gpu-7',
    pid: 4242,
    model: 'whisper-tiny (q8, prepared)',
    executionProvider: 'cuda',
    queues: ['regular', 'large'],
    concurrency: 1,
    activeJobs: 1,
    metricsPort: 9464,
    startedAt: new Date().toISOString(),
    beatAt: new Date().toISOString(),
  });

  it('lists live workers for admin keys only, and drops a worker whose heartbeats stop', async () => {
    const registry = new WorkerRegistry(h.redis, h.config.queue.prefix, 300);
    await registry.beat(heartbeat('gpu-7-4242-aaaaaa'));
    const res = await h.request('/api/admin/workers');
    expect(res.status).toBe(200);
    const { workers } = (await res.json()) as { workers: (WorkerHeartbeat & { lastBeatAgoMs: number })[] };
    expect(workers).toHaveLength(1);
    expect(workers[0]).toMatchObject({ workerId: 'gpu-7-4242-aaaaaa', model: 'whisper-tiny (q8, prepared)', metricsPort: 9464, activeJobs: 1 });
    expect(workers[0].lastBeatAgoMs).toBeLessThan(5000);
    expect((await h.request('/api/admin/workers', { headers: { Authorization: `Bearer ${projectKey}` } })).status).toBe(403);
    await new Promise((r) => setTimeout(r, 500));
    expect(((await (await h.request('/api/admin/workers')).json()) as { workers: unknown[] }).workers).toEqual([]);
  });

  it('removes a worker at once when it leaves cleanly', async () => {
    const registry = new WorkerRegistry(h.redis, h.config.queue.prefix);
    await registry.beat(heartbeat('gpu-8-1-bbbbbb'));
    expect(await registry.list()).toHaveLength(1);
    await registry.remove('gpu-8-1-bbbbbb');
    expect(await registry.list()).toEqual([]);
  });
});
