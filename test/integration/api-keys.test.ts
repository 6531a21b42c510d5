/**
 * Stored API keys end to end: created and revoked through the admin routes
 * and the `npm run keys` CLI (a real process), a project key reaching its
 * own project and nothing else, and a revocation reaching a second API
 * process within API_KEY_CACHE_MS.
 */
import { execFile } from 'node:child_process';
import { copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHandle, startApi } from '../../src/api/main.js';
import { API_KEY_PATTERN, digestHex } from '../../src/core/keys/api-key.repository.js';
import { silentLogger } from '../helpers/services.js';
import { API_KEY, type ApiHarness, createHarness, JFK } from './api-harness.js';

const CACHE_MS = 1000;
let h: ApiHarness;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- bodies are checked field by field by the assertions
type Body = Record<string, any>;

const bearer = (key: string) => ({ Authorization: `Bearer ${key}` });

async function createKey(projectId: string | null, name: string, as = API_KEY): Promise<Body> {
  const res = await h.request('/api/admin/keys', {
    method: 'POST',
    headers: { ...bearer(as), 'Content-Type': 'application/json' },
    body: JSON.stringify({ projectId, name }),
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as Body;
}

async function registerByUri(projectId: string, meetingId: string, key: string): Promise<Response> {
  await copyFile(JFK, join(h.audioRoot, `${meetingId}.wav`));
  return h.request(`/api/projects/${projectId}/meetings`, {
    method: 'POST',
    headers: { ...bearer(key), 'Content-Type': 'application/json' },
    body: JSON.stringify({ meetingId, audioUri: `${meetingId}.wav` }),
  });
}

beforeAll(async () => {
  // No worker runs here: an OpenAI-compatible request answers 504 after a second, naming the meeting it made.
  h = await createHarness({ env: { API_KEY_CACHE_MS: String(CACHE_MS), OPENAI_WAIT_SEC: '1' } });
});
afterAll(async () => {
  await h?.close();
});

describe('admin routes', () => {
  it('creates a project key shown once, lists it without secrets, and stores only its SHA-256', async () => {
    const created = await createKey('acme', 'ci');
    expect(created).toMatchObject({ projectId: 'acme', name: 'ci', lastUsedAt: null, revokedAt: null });
    expect(created.key).toMatch(API_KEY_PATTERN);
    expect(created.keyId).toBe(digestHex(created.key).slice(0, 16));
    expect(created.key.startsWith(created.prefix)).toBe(true);

    const list = (await (await h.request('/api/admin/keys?projectId=acme')).json()) as Body;
    expect(list.keys).toEqual([{ keyId: created.keyId, prefix: created.prefix, name: 'ci', projectId: 'acme', createdAt: created.createdAt, lastUsedAt: null, revokedAt: null }]);
    expect(JSON.stringify(list)).not.toContain(created.key);

    const stored = await h.mongo.db.collection('api_keys').findOne({ keyId: created.keyId });
    expect(stored?._id).toBe(digestHex(created.key));
    expect(JSON.stringify(stored)).not.toContain(created.key);
  });

  it('an admin key made in MongoDB reaches the admin routes; revoking twice keeps the first time', async () => {
    const admin = await createKey(null, 'ops');
    const made = await createKey('beta', 'made-by-a-stored-admin', admin.key);
    const first = await h.request(`/api/admin/keys/${made.keyId}`, { method: 'DELETE' });
    expect(first.status).toBe(200);
    const revokedAt = ((await first.json()) as Body).revokedAt;
    expect(revokedAt).toEqual(expect.any(String));
    const again = await h.request(`/api/admin/keys/${made.keyId}`, { method: 'DELETE' });
    expect(((await again.json()) as Body).revokedAt).toBe(revokedAt);
    const listed = (await (await h.request('/api/admin/keys?projectId=beta&includeRevoked=true')).json()) as Body;
    expect(listed.keys.map((k: Body) => k.keyId)).toEqual([made.keyId]);
    expect(((await (await h.request('/api/admin/keys?projectId=beta')).json()) as Body).keys).toEqual([]);
  });
});

describe('a project key', () => {
  let acme: Body;
  let acmeJob: string;
  let otherJob: string;

  beforeAll(async () => {
    acme = await createKey('acme', 'scoped');
    expect((await registerByUri('acme', 'k-own', acme.key)).status).toBe(201);
    expect((await registerByUri('other', 'k-foreign', API_KEY)).status).toBe(201);
    const started = await h.request('/api/projects/acme/meetings/k-own/transcription/start', { method: 'POST', headers: bearer(acme.key) });
    expect(started.status).toBe(202);
    acmeJob = ((await started.json()) as Body).jobId;
    const foreign = await h.request('/api/projects/other/meetings/k-foreign/transcription/start', { method: 'POST' });
    otherJob = ((await foreign.json()) as Body).jobId;
  });

  it('reaches its own project: meetings, status, transcript, list, its jobs', async () => {
    for (const path of [
      '/api/projects/acme/meetings',
      '/api/projects/acme/meetings/k-own/transcription',
      '/api/projects/acme/meetings/k-own/transcript',
      `/api/jobs/${acmeJob}`,
      '/api/openapi.json',
    ]) {
      const res = await h.request(path, { headers: bearer(acme.key) });
      expect(res.status, path).toBe(200);
    }
  });

  it('gets 403 FORBIDDEN for another project, whether or not its meetings exist', async () => {
    for (const [method, path] of [
      ['GET', '/api/projects/other/meetings'],
      ['GET', '/api/projects/other/meetings/k-foreign/transcription'],
      ['GET', '/api/projects/other/meetings/ghost/transcription'],
      ['POST', '/api/projects/other/meetings/k-foreign/transcription/start'],
      ['POST', '/api/projects/other/meetings'],
    ]) {
      const res = await h.request(path, { method, headers: bearer(acme.key) });
      expect(res.status, path).toBe(403);
      expect(((await res.json()) as Body).error.code).toBe('FORBIDDEN');
    }
  });

  it('reads another project\'s job as not found (404, like an unknown job)', async () => {
    const res = await h.request(`/api/jobs/${otherJob}`, { headers: bearer(acme.key) });
    expect(res.status).toBe(404);
    const unknown = await h.request('/api/jobs/transcription-ghost', { headers: bearer(acme.key) });
    expect(((await res.json()) as Body).error.code).toBe(((await unknown.json()) as Body).error.code);
    expect((await h.request(`/api/jobs/${otherJob}`)).status).toBe(200);
  });

  it('gets 403 on the admin-only routes: queues, metrics, key administration', async () => {
    for (const [method, path] of [
      ['GET', '/api/queues/metrics'],
      ['GET', '/metrics'],
      ['GET', '/api/admin/keys'],
      ['POST', '/api/admin/keys'],
      ['DELETE', `/api/admin/keys/${acme.keyId}`],
    ]) {
      const res = await h.request(path, { method, headers: bearer(acme.key) });
      expect(res.status, `${method} ${path}`).toBe(403);
    }
    expect(await h.mongo.db.collection('api_keys').countDocuments({ keyId: acme.keyId, revokedAt: { $exists: true } })).toBe(0);
  });

  it('on /v1 makes meetings of its own project (admin keys: OPENAI_PROJECT_ID)', async () => {
    const form = new FormData();
    form.append('model', 'whisper-1');
    form.append('file', new Blob([await readFile(JFK)]), 'jfk.wav');
    const res = await h.request('/v1/audio/transcriptions', { method: 'POST', body: form, headers: bearer(acme.key) });
    expect(res.status).toBe(504);
    expect(((await res.json()) as Body).error.message).toMatch(/as meeting \w+ of project acme/);
    const interactive = await h.mongo.db.collection('meetings').find({ interactive: true }).toArray();
    expect(interactive.map((m) => m.projectId)).toEqual(['acme']);
  });

  it('records its last use', async () => {
    const listed = (await (await h.request('/api/admin/keys?projectId=acme')).json()) as Body;
    const mine = listed.keys.find((k: Body) => k.keyId === acme.keyId);
    expect(Date.parse(mine.lastUsedAt)).toBeGreaterThanOrEqual(Date.parse(acme.createdAt));
  });
});

describe('revocation', () => {
  let apis: ApiHandle[] = [];

  afterAll(async () => {
    await Promise.all(apis.map((a) => a.close()));
  });

  it('revoked through one API process, the key is refused by another within API_KEY_CACHE_MS', async () => {
    const env = {
      API_KEYS: API_KEY,
      API_KEY_CACHE_MS: String(CACHE_MS),
      HOST: '127.0.0.1',
      PORT: '0',
      STORAGE_DIR: h.storageDir,
      AUDIO_ROOT: h.audioRoot,
    };
    apis = [await startApi(h.ns.config(env), silentLogger()), await startApi(h.ns.config(env), silentLogger())];
    const [a, b] = apis.map((api) => (path: string, key: string, init: RequestInit = {}) =>
      fetch(`http://127.0.0.1:${api.port}${path}`, { ...init, headers: { ...bearer(key), ...(init.headers as Record<string, string>) } }),
    );
    const created = await a('/api/admin/keys', API_KEY, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ projectId: 'acme', name: 'soon-revoked' }) });
    const { key, keyId } = (await created.json()) as Body;
    // Both processes have looked the key up, so both hold it in their cache.
    expect((await a('/api/projects/acme/meetings', key)).status).toBe(200);
    expect((await b('/api/projects/acme/meetings', key)).status).toBe(200);

    expect((await a(`/api/admin/keys/${keyId}`, API_KEY, { method: 'DELETE' })).status).toBe(200);
    const revokedAt = performance.now();
    let refusedAfter = -1;
    while (performance.now() - revokedAt < CACHE_MS + 2000) {
      const res = await b('/api/projects/acme/meetings', key);
      if (res.status === 401) {
        refusedAfter = performance.now() - revokedAt;
        expect(((await res.json()) as Body).error.message).toMatch(/revoked/);
        break;
      }
      expect(res.status).toBe(200);
      await new Promise((r) => setTimeout(r, 25));
    }
    console.log(`revocation: the other API process refused the key ${Math.round(refusedAfter)} ms after the revoke (API_KEY_CACHE_MS=${CACHE_MS})`);
    expect(refusedAfter).toBeGreaterThanOrEqual(0);
    expect(refusedAfter).toBeLessThanOrEqual(CACHE_MS + 250);
    expect((await a('/api/projects/acme/meetings', key)).status).toBe(401);
  });
});

describe('npm run keys (the CLI, as a real process)', () => {
  /** `npm run -s keys -- args`; `direct` skips npm (the same entry point, a few seconds less per run on a loaded machine). */
  const cli = (args: string[], env: Record<string, string> = {}, direct = false) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        direct ? process.execPath : 'npm',
        direct ? ['--import', 'tsx', 'src/tools/keys.ts', ...args] : ['run', '-s', 'keys', '--', ...args],
        { env: { ...process.env, MONGODB_URL: h.ns.mongoUrl, MONGODB_DB: h.ns.dbName, MONGODB_TIMEOUT_MS: '1500', ...env }, timeout: 60_000 },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
      );
    });

  it('creates a key that works at once, lists it, and revokes it', async () => {
    const created = await cli(['create', '--project', 'cli-proj', '--name', 'ci']);
    expect(created.code, created.stderr).toBe(0);
    const key = created.stdout.trim();
    expect(key).toMatch(API_KEY_PATTERN);
    expect(created.stderr).toMatch(/shown only now/);
    expect((await h.request('/api/projects/cli-proj/meetings', { headers: bearer(key) })).status).toBe(200);
    expect((await h.request('/api/projects/acme/meetings', { headers: bearer(key) })).status).toBe(403);

    const keyId = digestHex(key).slice(0, 16);
    const listed = await cli(['list', '--project', 'cli-proj']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(keyId);
    expect(listed.stdout).not.toContain(key);

    const revoked = await cli(['revoke', keyId]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toMatch(new RegExp(`^revoked ${keyId}`));
    const refusedBy = performance.now() + CACHE_MS + 1000;
    let status = 200;
    while (status !== 401 && performance.now() < refusedBy) {
      status = (await h.request('/api/projects/cli-proj/meetings', { headers: bearer(key) })).status;
      if (status !== 401) await new Promise((r) => setTimeout(r, 50));
    }
    expect(status).toBe(401);
  }, 90_000);

  it('bad usage exits 2; an unknown key or an unreachable MongoDB exits 1 with one line, and nothing is written', async () => {
    const before = await h.mongo.db.collection('api_keys').countDocuments();
    for (const args of [[], ['create', '--name', 'x'], ['create', '--project', 'a b', '--name', 'x'], ['create', '--project', 'p', '--admin', '--name', 'x'], ['revoke', 'nope'], ['frobnicate']]) {
      const res = await cli(args, {}, true);
      expect(res.code, args.join(' ')).toBe(2);
      expect(res.stderr).toMatch(/^keys: .+\nusage: /);
    }
    const unknown = await cli(['revoke', '0123456789abcdef'], {}, true);
    expect(unknown).toMatchObject({ code: 1, stdout: '' });
    expect(unknown.stderr).toMatch(/^keys: API key 0123456789abcdef not found\n$/);
    const down = await cli(['list'], { MONGODB_URL: 'mongodb://127.0.0.1:1', MONGODB_TIMEOUT_MS: '300' });
    expect(down.code).toBe(1);
    expect(down.stderr.trim().split('\n')).toHaveLength(1);
    expect(await h.mongo.db.collection('api_keys').countDocuments()).toBe(before);
  }, 120_000);
});

describe('meeting ids are per project', () => {
  const status = async (projectId: string, meetingId: string) => {
    const res = await h.request(`/api/projects/${projectId}/meetings/${meetingId}/transcription`);
    return { code: res.status, body: (await res.json()) as Body };
  };

  it('the same id in two projects makes two independent meetings; a 409 only within one project', async () => {
    expect((await registerByUri('pa', 'shared', API_KEY)).status).toBe(201);
    const second = await registerByUri('pb', 'shared', API_KEY);
    expect(second.status).toBe(201);
    expect(((await second.json()) as Body).meetingId).toBe('shared');
    expect(second.headers.get('Location')).toBe('/api/projects/pb/meetings/shared/transcription');
    const again = await registerByUri('pa', 'shared', API_KEY);
    expect(again.status).toBe(409);

    const started = await h.request('/api/projects/pa/meetings/shared/transcription/start', { method: 'POST' });
    expect(((await started.json()) as Body).jobId).toBe('transcription-pa.shared');
    const [a, b] = [await status('pa', 'shared'), await status('pb', 'shared')];
    expect(a.body).toMatchObject({ meetingId: 'shared', projectId: 'pa', jobId: 'transcription-pa.shared', jobState: 'waiting' });
    expect(b.body).toMatchObject({ meetingId: 'shared', projectId: 'pb', jobId: null, jobState: null });
    const job = (await (await h.request('/api/jobs/transcription-pa.shared')).json()) as Body;
    expect(job.data).toMatchObject({ meetingId: 'shared', projectId: 'pa' });
    const listed = (await (await h.request('/api/projects/pb/meetings')).json()) as Body;
    expect(listed.meetings.map((m: Body) => m.meetingId)).toEqual(['shared']);

    expect((await h.request('/api/projects/pa/meetings/shared', { method: 'DELETE' })).status).toBe(204);
    expect((await status('pa', 'shared')).code).toBe(404);
    expect((await status('pb', 'shared')).body.status).toBe('pending');
    // The deleted id stays taken in its project only.
    expect((await registerByUri('pa', 'shared', API_KEY)).status).toBe(409);
    expect((await registerByUri('pc', 'shared', API_KEY)).status).toBe(201);
  });

  it('a meeting stored under its bare id (registered before ids were scoped) is still found, and its id stays taken', async () => {
    const audio = { path: join(h.audioRoot, 'k-own.wav'), source: 'uri' as const, durationSec: 11, sizeBytes: 1, sha256: 'x', codec: 'pcm_s16le', formatName: 'wav' };
    // What such a document looks like: `_id` is the meeting id, and there is no meetingId field.
    await h.meetings.create({ id: 'legacy-2', projectId: 'pold', audio });
    await h.mongo.db.collection('meetings').updateOne({ _id: 'legacy-2' as never }, { $unset: { meetingId: '' } });
    const found = await status('pold', 'legacy-2');
    expect(found.code).toBe(200);
    expect(found.body.meetingId).toBe('legacy-2');
    expect((await status('other', 'legacy-2')).code).toBe(404);
    expect((await registerByUri('pold', 'legacy-2', API_KEY)).status).toBe(409);
    expect((await registerByUri('pnew', 'legacy-2', API_KEY)).status).toBe(201);
    const started = await h.request('/api/projects/pold/meetings/legacy-2/transcription/start', { method: 'POST' });
    expect(((await started.json()) as Body).jobId).toBe('transcription-legacy-2');
  });
});
