import { createHash } from 'node:crypto';
import { copyFile, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Queue } from 'bullmq';
import { testClient } from 'hono/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meetingKey } from '../../src/core/meetings/meeting-key.js';
import { jobIdFor } from '../../src/core/queues.js';
import { parseSrt, parseWebVtt } from '../../src/core/transcript-format.js';
import { memoryLogger } from '../helpers/services.js';
import { API_KEY, type ApiHarness, createHarness, JFK, LONG_CLIP, OTHER_KEY, uploadForm } from './api-harness.js';

const { logger, lines } = memoryLogger('info');
let h: ApiHarness;
let jfkBytes: Buffer;
let seq = 0;
const newId = (prefix = 'm') => `${prefix}${Date.now().toString(36)}x${seq++}`;
/** A meeting of project p1: its key (`_id`, job data) and its job id (`transcription-<key>`). */
const key = (meetingId: string) => meetingKey('p1', meetingId);
const jobOf = (meetingId: string) => jobIdFor(key(meetingId));

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- bodies are checked field by field by the assertions
type Body = Record<string, any>;

async function json(res: Response): Promise<Body> {
  return (await res.json()) as Body;
}

async function upload(projectId: string, fields: Record<string, string> = {}, bytes: Uint8Array = jfkBytes): Promise<Response> {
  return h.request(`/api/projects/${projectId}/meetings`, { method: 'POST', body: uploadForm(bytes, fields) });
}

async function register(projectId: string, meetingId = newId(), file = JFK): Promise<string> {
  const res = await upload(projectId, { meetingId }, await readFile(file));
  expect(res.status).toBe(201);
  return meetingId;
}

function post(path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return h.request(path, {
    method: 'POST',
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'Content-Type': 'application/json', ...headers } }),
  });
}

beforeAll(async () => {
  h = await createHarness({ logger });
  jfkBytes = await readFile(JFK);
});
afterAll(async () => {
  await h?.close();
});

describe('authentication', () => {
  it('refuses /api without a key or with a wrong one, with the error envelope', async () => {
    for (const authorization of [undefined, 'Bearer nope', `Basic ${API_KEY}`, 'Bearer ']) {
      const res = await h.app.request('/api/queues/metrics', { headers: authorization ? { Authorization: authorization } : {} });
      expect(res.status).toBe(401);
      expect(res.headers.get('WWW-Authenticate')).toBe('Bearer');
      const body = await json(res);
      expect(body.error.code).toBe('UNAUTHORIZED');
      expect(Object.keys(body.error)).toEqual(['code', 'message']);
    }
  });

  it('accepts every configured key', async () => {
    for (const key of [API_KEY, OTHER_KEY]) {
      const res = await h.app.request('/api/queues/metrics', { headers: { Authorization: `Bearer ${key}` } });
      expect(res.status).toBe(200);
    }
  });

  it('leaves /healthz and /readyz open and keeps /metrics behind the key', async () => {
    expect((await h.app.request('/healthz')).status).toBe(200);
    const ready = await h.app.request('/readyz');
    expect(ready.status).toBe(200);
    expect(await json(ready)).toEqual({ status: 'ok', checks: { mongo: 'ok', redis: 'ok' } });
    const anonymous = await h.app.request('/metrics');
    expect(anonymous.status).toBe(401);
    expect(await anonymous.text()).not.toContain('meno_');
    const metrics = await h.request('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('Content-Type')).toMatch(/^text\/plain/);
    expect(await metrics.text()).toContain('meno_http_requests_total');
  });
});

describe('requests', () => {
  it('answers unknown routes with a 404 envelope and echoes or makes a request id', async () => {
    const res = await h.request('/api/nope', { headers: { 'X-Request-Id': 'abc-123' } });
    expect(res.status).toBe(404);
    expect((await json(res)).error.code).toBe('NOT_FOUND');
    expect(res.headers.get('X-Request-Id')).toBe('abc-123');
    const other = await h.request('/api/queues/metrics');
    expect(other.headers.get('X-Request-Id')).toMatch(/^[\w-]{8,}$/);
  });

  it('logs one line per request with reqId, method, path, status and ms, never the Authorization header', async () => {
    await h.request('/api/queues/metrics', { headers: { 'X-Request-Id': 'log-check-1' } });
    const line = lines().find((l) => l.reqId === 'log-check-1' && l.msg === 'request');
    expect(line).toMatchObject({ method: 'GET', path: '/api/queues/metrics', status: 200 });
    expect(typeof line?.ms).toBe('number');
    expect(JSON.stringify(lines())).not.toContain(API_KEY);
  });

  it('counts requests by route pattern', async () => {
    const text = await (await h.request('/metrics')).text();
    expect(text).toMatch(/meno_http_requests_total\{method="GET",route="\/api\/queues\/metrics",status="200",process="api"\} \d+/);
  });

  it('serves an OpenAPI document that lists every route', async () => {
    const res = await h.request('/api/openapi.json');
    expect(res.status).toBe(200);
    const doc = await json(res);
    expect(doc.openapi).toBe('3.1.0');
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
    );
    const served = h.app.routes
      .filter((r) => r.method !== 'ALL')
      .map((r) => `${r.method} ${r.path}`);
    expect(new Set(documented)).toEqual(new Set(served));
    expect(JSON.stringify(doc)).toContain('deferred');
  });
});

describe('POST /api/projects/:projectId/meetings', () => {
  it('registers an upload: 201, streamed to STORAGE_DIR/<project>/<meeting>/, hashed, probed', async () => {
    const res = await upload('p1');
    expect(res.status).toBe(201);
    const body = await json(res);
    expect(body).toMatchObject({
      projectId: 'p1',
      transcriptionStatus: 'pending',
      audio: { durationSec: 11, codec: 'pcm_s16le', formatName: 'wav', sizeBytes: jfkBytes.length, sha256: createHash('sha256').update(jfkBytes).digest('hex') },
    });
    expect(body.meetingId).toMatch(/^[0-9a-f]{32}$/);
    expect(res.headers.get('Location')).toBe(`/api/projects/p1/meetings/${body.meetingId}/transcription`);
    const doc = await h.meetings.get('p1', body.meetingId);
    expect(doc.audio.source).toBe('upload');
    expect(doc.audio.path).toMatch(new RegExp(`^${h.storageDir}/p1/${body.meetingId}/[0-9a-f-]{36}\\.audio$`));
    expect(await readFile(doc.audio.path)).toEqual(jfkBytes);
    expect((await h.snapshot()).storedFiles.filter((f) => f.startsWith('.incoming'))).toEqual([]);
  });

  it('uses the meetingId field and answers 409 for an existing one, removing the second upload', async () => {
    const meetingId = newId();
    expect((await upload('p1', { meetingId })).status).toBe(201);
    const before = await h.snapshot();
    const res = await upload('p1', { meetingId });
    expect(res.status).toBe(409);
    expect((await json(res)).error.code).toBe('CONFLICT');
    expect(await h.snapshot()).toEqual(before);
  });

  it('registers a file under AUDIO_ROOT by relative path, absolute path and file:// URI', async () => {
    await copyFile(JFK, join(h.audioRoot, 'jfk.wav'));
    const uris = ['jfk.wav', join(h.audioRoot, 'jfk.wav'), pathToFileURL(join(h.audioRoot, 'jfk.wav')).href];
    for (const audioUri of uris) {
      const res = await post('/api/projects/p1/meetings', { audioUri });
      expect(res.status, audioUri).toBe(201);
      const body = await json(res);
      expect(body.audio).toMatchObject({ durationSec: 11, sizeBytes: jfkBytes.length, sha256: createHash('sha256').update(jfkBytes).digest('hex') });
      const doc = await h.meetings.get('p1', body.meetingId);
      expect(doc.audio).toMatchObject({ source: 'uri', path: join(h.audioRoot, 'jfk.wav') });
    }
    // A referenced file is the operator's: it stays where it is.
    expect((await stat(join(h.audioRoot, 'jfk.wav'))).size).toBe(jfkBytes.length);
  });

  it('refuses bad ids, other content types, malformed and oversize JSON without writing anything', async () => {
    const before = await h.snapshot();
    const cases: [Promise<Response>, number, string][] = [
      [upload('bad.project'), 400, 'VALIDATION_FAILED'],
      [upload('p1', { meetingId: 'has space' }), 400, 'VALIDATION_FAILED'],
      [upload('p1', { meetingId: 'x'.repeat(65) }), 400, 'VALIDATION_FAILED'],
      [post('/api/projects/p1/meetings', { audioUri: 'jfk.wav', meetingId: '../x' }), 400, 'VALIDATION_FAILED'],
      [post('/api/projects/p1/meetings', { audioUri: 'jfk.wav', extra: 1 }), 400, 'VALIDATION_FAILED'],
      [post('/api/projects/p1/meetings', '{"audioUri": '), 400, 'VALIDATION_FAILED'],
      [post('/api/projects/p1/meetings', { audioUri: 'a'.repeat(70 * 1024) }), 413, 'PAYLOAD_TOO_LARGE'],
      [h.request('/api/projects/p1/meetings', { method: 'POST', body: 'hello', headers: { 'Content-Type': 'text/plain' } }), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      [h.request('/api/projects/p1/meetings', { method: 'POST', body: jfkBytes, headers: { 'Content-Type': 'audio/wav' } }), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      [h.request('/api/projects/p1/meetings', { method: 'POST', body: 'x', headers: { 'Content-Type': 'multipart/form-data' } }), 400, 'VALIDATION_FAILED'],
    ];
    for (const [pending, status, code] of cases) {
      const res = await pending;
      const body = await json(res);
      expect({ status: res.status, code: body.error?.code }).toEqual({ status, code });
    }
    expect(await h.snapshot()).toEqual(before);
  });

  it('refuses a form without a file part or with the audio under another name', async () => {
    const before = await h.snapshot();
    const onlyField = new FormData();
    onlyField.append('meetingId', newId());
    const wrongName = new FormData();
    wrongName.append('audio', new Blob([jfkBytes]), 'a.wav');
    for (const body of [onlyField, wrongName]) {
      const res = await h.request('/api/projects/p1/meetings', { method: 'POST', body });
      expect(res.status).toBe(400);
      expect((await json(res)).error.code).toBe('VALIDATION_FAILED');
    }
    expect(await h.snapshot()).toEqual(before);
  });
});

describe('transcription', () => {
  it('start → 202 with a job in Redis; a second start returns the same job', async () => {
    const meetingId = await register('p1');
    const first = await post(`/api/projects/p1/meetings/${meetingId}/transcription/start`);
    expect(first.status).toBe(202);
    expect(await json(first)).toEqual({ jobId: jobOf(meetingId), queue: 'regular', state: 'queued' });
    const queue = new Queue(h.config.queue.regularName, { connection: h.redis, prefix: h.config.queue.prefix });
    const job = await queue.getJob(jobOf(meetingId));
    // Job data holds the meeting's key; answers show the meeting id.
    expect(job?.data).toMatchObject({ meetingId: key(meetingId), projectId: 'p1', durationSec: 11, queue: 'regular' });
    expect(await job?.getState()).toBe('waiting');
    const second = await post(`/api/projects/p1/meetings/${meetingId}/transcription/start`, {});
    expect(second.status).toBe(202);
    expect(await json(second)).toEqual({ jobId: jobOf(meetingId), queue: 'regular', state: 'existing' });
    expect((await queue.getJobs(['waiting'])).filter((j) => j.data.meetingId === key(meetingId))).toHaveLength(1);
    await queue.close();
  });

  it('passes language and task to the job and validates them', async () => {
    const meetingId = await register('p1');
    const bad = await post(`/api/projects/p1/meetings/${meetingId}/transcription/start`, { language: 'English!' });
    expect(bad.status).toBe(400);
    expect((await json(bad)).error.code).toBe('VALIDATION_FAILED');
    const unknown = await post(`/api/projects/p1/meetings/${meetingId}/transcription/start`, { language: 'xx' });
    expect(unknown.status).toBe(400);
    expect((await json(unknown)).error).toMatchObject({ code: 'VALIDATION_FAILED', message: expect.stringMatching(/language "xx" is not one Whisper transcribes/) });
    const wrongType = await h.request(`/api/projects/p1/meetings/${meetingId}/transcription/start`, { method: 'POST', body: 'lang=en', headers: { 'Content-Type': 'text/plain' } });
    expect(wrongType.status).toBe(415);
    const malformed = await post(`/api/projects/p1/meetings/${meetingId}/transcription/start`, '{');
    expect(malformed.status).toBe(400);
    expect((await json(malformed)).error.code).toBe('VALIDATION_FAILED');
    const huge = await post(`/api/projects/p1/meetings/${meetingId}/transcription/start`, { language: 'en', pad: 'x'.repeat(70 * 1024) });
    expect(huge.status).toBe(413);
    expect((await h.meetings.get('p1', meetingId)).transcriptionRequestedAt).toBeUndefined();
    const longPrompt = await post(`/api/projects/p1/meetings/${meetingId}/transcription/start`, { prompt: 'word '.repeat(250) });
    expect(longPrompt.status).toBe(400);
    expect((await json(longPrompt)).error.message).toMatch(/prompt: expected at most 1000 characters/);
    expect((await h.meetings.get('p1', meetingId)).transcriptionRequestedAt).toBeUndefined();
    const ok = await post(`/api/projects/p1/meetings/${meetingId}/transcription/start`, { language: 'en', task: 'translate', prompt: 'ONNX, BullMQ, Kubernetes' });
    expect(ok.status).toBe(202);
    const status = await h.queues.getJobStatus(jobOf(meetingId));
    const recorded = { language: 'en', task: 'translate', prompt: 'ONNX, BullMQ, Kubernetes' };
    expect(status?.data.options).toEqual(recorded);
    expect((await h.meetings.get('p1', meetingId)).transcriptionOptions).toEqual(recorded);
  });

  it('routes audio longer than LARGE_QUEUE_THRESHOLD_SEC to the large queue', async () => {
    const meetingId = await register('p1', newId(), LONG_CLIP);
    const res = await post(`/api/projects/p1/meetings/${meetingId}/transcription/start`);
    expect(await json(res)).toEqual({ jobId: jobOf(meetingId), queue: 'large', state: 'queued' });
    const large = new Queue(h.config.queue.largeName, { connection: h.redis, prefix: h.config.queue.prefix });
    expect((await large.getJob(jobOf(meetingId)))?.data.durationSec).toBeCloseTo(21.53, 2);
    await large.close();
  });

  it('reports status with the job attempts, chunks, segments and timestamps', async () => {
    const meetingId = await register('p1');
    await post(`/api/projects/p1/meetings/${meetingId}/transcription/start`);
    const claim = await h.meetings.claim(key(meetingId));
    await h.meetings.recordPlan(key(meetingId), claim!.epoch, { planner: 'vad', durationSec: 90, chunks: [0, 1, 2].map((index) => ({ index, start: index * 30, end: index * 30 + 29 })) });
    await h.segments.saveChunk(key(meetingId), 0, claim!.epoch, [{ text: 'And so my fellow Americans', start: 0, end: 2.5, avgLogprob: -0.2, noSpeechProb: 0.01 }]);
    await h.meetings.checkpointChunk(key(meetingId), claim!.epoch, 0, 33.33);
    const res = await h.request(`/api/projects/p1/meetings/${meetingId}/transcription`);
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body).toMatchObject({
      meetingId,
      projectId: 'p1',
      status: 'processing',
      progress: 33.33,
      attempts: 0,
      jobState: 'waiting',
      error: null,
      segmentsSaved: 1,
      chunks: { total: 3, done: 1 },
      queue: 'regular',
      jobId: jobOf(meetingId),
    });
    for (const key of ['createdAt', 'startedAt', 'updatedAt']) expect(new Date(body.timestamps[key]).getTime()).toBeGreaterThan(0);
    expect(body.timestamps.completedAt).toBeNull();
  });

  it('serves the transcript as JSON, text, SRT and WebVTT, marked partial until completed', async () => {
    const meetingId = await register('p1');
    const claim = await h.meetings.claim(key(meetingId));
    const epoch = claim!.epoch;
    // Saved out of order: the transcript must come back in (chunk, index) order.
    await h.segments.saveChunk(key(meetingId), 1, epoch, [{ text: ' ask not what your country can do for you,', start: 3.5, end: 7.25, avgLogprob: -0.3, noSpeechProb: 0.02 }]);
    await h.segments.saveChunk(key(meetingId), 0, epoch, [
      { text: ' And so my fellow Americans,', start: 0, end: 2.5, avgLogprob: -0.2, noSpeechProb: 0.01 },
      { text: ' <b>&</b>', start: 2.5, end: 3.5, avgLogprob: -0.9, noSpeechProb: 0.3 },
    ]);
    const get = (format?: string) => h.request(`/api/projects/p1/meetings/${meetingId}/transcript${format ? `?format=${format}` : ''}`);

    const asJson = await get();
    expect(asJson.headers.get('Content-Type')).toMatch(/^application\/json/);
    expect(asJson.headers.get('X-Transcript-Partial')).toBe('true');
    const doc = await json(asJson);
    expect(doc).toMatchObject({ meetingId, projectId: 'p1', status: 'processing', partial: true });
    expect(doc.segments.map((s: { start: number }) => s.start)).toEqual([0, 2.5, 3.5]);
    expect(Object.keys(doc.segments[0]).sort()).toEqual(['avgLogprob', 'end', 'noSpeechProb', 'start', 'text']);
    expect(doc.text).toBe('And so my fellow Americans, <b>&</b> ask not what your country can do for you,');

    const text = await get('text');
    expect(text.headers.get('Content-Type')).toBe('text/plain; charset=utf-8');
    expect(text.headers.get('X-Transcript-Partial')).toBe('true');
    expect(await text.text()).toBe('And so my fellow Americans,\n<b>&</b>\nask not what your country can do for you,\n');

    const srt = await get('srt');
    expect(srt.headers.get('Content-Type')).toBe('application/x-subrip; charset=utf-8');
    const srtBody = await srt.text();
    expect(srtBody.startsWith('1\n00:00:00,000 --> 00:00:02,500\nAnd so my fellow Americans,\n')).toBe(true);
    expect(parseSrt(srtBody).map((c) => c.end)).toEqual([2.5, 3.5, 7.25]);

    const vtt = await get('vtt');
    expect(vtt.headers.get('Content-Type')).toBe('text/vtt; charset=utf-8');
    expect(vtt.headers.get('X-Transcript-Partial')).toBe('true');
    const vttBody = await vtt.text();
    expect(vttBody).toMatch(/^WEBVTT\n\nNOTE partial transcript/);
    expect(vttBody).toContain('&lt;b&gt;&amp;&lt;/b&gt;');
    expect(parseWebVtt(vttBody).map((c) => c.text)).toEqual(['And so my fellow Americans,', '<b>&</b>', 'ask not what your country can do for you,']);

    await h.meetings.complete(key(meetingId), epoch);
    const done = await get('vtt');
    expect(done.headers.get('X-Transcript-Partial')).toBe('false');
    expect(await done.text()).not.toContain('NOTE');
    expect((await json(await get('json'))).partial).toBe(false);

    const bad = await get('docx');
    expect(bad.status).toBe(400);
    expect((await json(bad)).error.code).toBe('VALIDATION_FAILED');
  });

  it('retry: 409 unless failed; a failed meeting goes back to pending with a new job', async () => {
    const meetingId = await register('p1');
    const early = await post(`/api/projects/p1/meetings/${meetingId}/transcription/retry`);
    expect(early.status).toBe(409);
    expect((await json(early)).error.code).toBe('CONFLICT');

    const claim = await h.meetings.claim(key(meetingId));
    await h.meetings.fail(key(meetingId), { errorMessage: 'decoder exploded', attempts: 3, lastAttempt: new Date(), code: 'INTERNAL' }, claim!.epoch);
    const failed = await json(await h.request(`/api/projects/p1/meetings/${meetingId}/transcription`));
    expect(failed).toMatchObject({ status: 'failed', attempts: 3, error: { errorMessage: 'decoder exploded', attempts: 3, code: 'INTERNAL' } });
    const startFailed = await post(`/api/projects/p1/meetings/${meetingId}/transcription/start`);
    expect(startFailed.status).toBe(409);

    const res = await post(`/api/projects/p1/meetings/${meetingId}/transcription/retry`);
    expect(res.status).toBe(202);
    expect(await json(res)).toEqual({ jobId: jobOf(meetingId), queue: 'regular', state: 'queued' });
    const after = await json(await h.request(`/api/projects/p1/meetings/${meetingId}/transcription`));
    expect(after).toMatchObject({ status: 'pending', error: null, jobState: 'waiting' });
  });

  it('hides a meeting from other projects on every route', async () => {
    const meetingId = await register('p1');
    const routes: [string, string][] = [
      ['POST', 'transcription/start'],
      ['POST', 'transcription/retry'],
      ['GET', 'transcription'],
      ['GET', 'transcript'],
    ];
    for (const [method, path] of routes) {
      const res = await h.request(`/api/projects/p2/meetings/${meetingId}/${path}`, { method });
      expect(res.status, path).toBe(404);
      expect((await json(res)).error.code).toBe('NOT_FOUND');
    }
    expect((await h.meetings.get('p1', meetingId)).transcriptionRequestedAt).toBeUndefined();
    const badId = await h.request(`/api/projects/p1/meetings/bad%20id/transcription`);
    expect(badId.status).toBe(400);
  });
});

describe('typed client', () => {
  it('AppType carries path params, query and bodies to hono\'s client', async () => {
    const client = testClient(h.app);
    const meetingId = await register('p1');
    const headers = { Authorization: `Bearer ${API_KEY}` };
    const meeting = client.api.projects[':projectId'].meetings[':meetingId'];
    const started = await meeting.transcription.start.$post({ param: { projectId: 'p1', meetingId }, json: { language: 'en' } }, { headers });
    expect(started.status).toBe(202);
    if (started.status === 202) expect((await started.json()).jobId).toBe(jobOf(meetingId));
    const status = await meeting.transcription.$get({ param: { projectId: 'p1', meetingId } }, { headers });
    if (status.status !== 200) throw new Error(`status ${status.status}`);
    const body = await status.json();
    expect(body.status).toBe('pending');
    expect(body.chunks.done).toBe(0);
    const vtt = await meeting.transcript.$get({ param: { projectId: 'p1', meetingId }, query: { format: 'vtt' } }, { headers });
    expect(await vtt.text()).toMatch(/^WEBVTT/);
  });
});

describe('operator routes', () => {
  it('GET /api/jobs/:jobId answers the guide\'s shape without file paths', async () => {
    const meetingId = await register('p1');
    await post(`/api/projects/p1/meetings/${meetingId}/transcription/start`);
    const res = await h.request(`/api/jobs/${jobOf(meetingId)}`);
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body).toEqual({
      jobId: jobOf(meetingId),
      queue: 'regular',
      status: 'waiting',
      progress: 0,
      failedReason: null,
      attemptsMade: 0,
      data: { meetingId, projectId: 'p1', queue: 'regular', durationSec: 11 },
      finishedOn: null,
    });
    expect(JSON.stringify(body)).not.toContain(h.storageDir);
    const missing = await h.request('/api/jobs/transcription-nope');
    expect(missing.status).toBe(404);
    expect((await json(missing)).error.code).toBe('NOT_FOUND');
    expect((await h.request('/api/jobs/a:b')).status).toBe(400);
  });

  it('GET /api/queues/metrics answers the guide\'s counts, overall and per queue', async () => {
    const res = await h.request('/api/queues/metrics');
    expect(res.status).toBe(200);
    const body = await json(res);
    for (const counts of [body, body.queues.regular, body.queues.large]) {
      expect(counts.total).toBe(counts.waiting + counts.active + counts.completed + counts.failed + counts.delayed);
    }
    expect(body.queues.regular.name).toBe(h.config.queue.regularName);
    expect(body.queues.large.name).toBe(h.config.queue.largeName);
    expect(body.waiting).toBeGreaterThanOrEqual(3);
    expect(body.queues.large.waiting).toBeGreaterThanOrEqual(1);
  });
});

describe('a server running an English-only model', () => {
  let en: ApiHarness;
  beforeAll(async () => {
    en = await createHarness({ logger, env: { MODEL: 'tiny.en' } });
  });
  afterAll(async () => {
    await en?.close();
  });

  it('refuses another language or translation with 400 and queues nothing (issue 10, item 6)', async () => {
    const res = await en.request('/api/projects/p1/meetings', { method: 'POST', body: uploadForm(jfkBytes, { meetingId: 'en-only' }) });
    expect(res.status).toBe(201);
    for (const body of [{ language: 'de' }, { task: 'translate' }, { language: 'en', task: 'translate' }]) {
      const refused = await en.request('/api/projects/p1/meetings/en-only/transcription/start', {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'Content-Type': 'application/json' },
      });
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect((await json(refused)).error.message).toMatch(/English-only model tiny\.en/);
    }
    expect(await en.queues.getJobStatus(jobOf('en-only'))).toBeNull();
    const ok = await en.request('/api/projects/p1/meetings/en-only/transcription/start', { method: 'POST', body: JSON.stringify({ language: 'en' }), headers: { 'Content-Type': 'application/json' } });
    expect(ok.status).toBe(202);
  });
});
