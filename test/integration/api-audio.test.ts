/**
 * GET .../meetings/:meetingId/audio on the real app, FerretDB and Redis: the
 * stored bytes with their content type, single byte ranges for seeking,
 * ETag revalidation, project scoping, and 404 once retention removed the
 * upload.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audioContentType, parseRange } from '../../src/api/routes/audio.routes.js';
import { LifecycleSweeper } from '../../src/core/lifecycle-sweeper.js';
import { silentLogger } from '../helpers/services.js';
import { type ApiHarness, createHarness, JFK, OTHER_KEY, uploadForm } from './api-harness.js';

let h: ApiHarness;
let jfk: Buffer;
const P = '/api/projects/acme/meetings';

beforeAll(async () => {
  h = await createHarness();
  jfk = await readFile(JFK);
  const res = await h.request(P, { method: 'POST', body: uploadForm(jfk, { meetingId: 'a1' }) });
  expect(res.status).toBe(201);
});
afterAll(async () => {
  await h?.close();
});

describe('GET .../meetings/:meetingId/audio', () => {
  it('streams the stored upload byte for byte as audio/wav, with its SHA-256 as ETag', async () => {
    const res = await h.request(`${P}/a1/audio`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('audio/wav');
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(Number(res.headers.get('content-length'))).toBe(jfk.length);
    const body = Buffer.from(await res.arrayBuffer());
    expect(body.equals(jfk)).toBe(true);
    const status = (await (await h.request(`${P}/a1/transcription`)).json()) as object;
    expect(status).toMatchObject({ meetingId: 'a1' });
    const meeting = (await h.meetings.find('acme', 'a1'))!;
    expect(res.headers.get('etag')).toBe(`"${meeting.audio.sha256}"`);
  });

  it('answers a byte range with 206 and Content-Range, as an audio element seeking asks', async () => {
    for (const [range, start, end] of [
      ['bytes=100-199', 100, 199],
      ['bytes=1000-', 1000, jfk.length - 1],
      ['bytes=-500', jfk.length - 500, jfk.length - 1],
      ['bytes=0-99999999', 0, jfk.length - 1],
    ] as const) {
      const res = await h.request(`${P}/a1/audio`, { headers: { Range: range } });
      expect(res.status, range).toBe(206);
      expect(res.headers.get('content-range'), range).toBe(`bytes ${start}-${end}/${jfk.length}`);
      expect(Buffer.from(await res.arrayBuffer()).equals(jfk.subarray(start, end + 1)), range).toBe(true);
    }
  });

  it('refuses a range past the end with 416, and sends the whole file for ranges it does not serve', async () => {
    const past = await h.request(`${P}/a1/audio`, { headers: { Range: `bytes=${jfk.length}-` } });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe(`bytes */${jfk.length}`);
    for (const range of ['bytes=0-1,5-9', 'items=0-1', 'bytes=9-2', 'nonsense']) {
      const res = await h.request(`${P}/a1/audio`, { headers: { Range: range } });
      expect(res.status, range).toBe(200);
      expect((await res.arrayBuffer()).byteLength, range).toBe(jfk.length);
    }
  });

  it('revalidates with If-None-Match (304), and ignores Range when If-Range names another version', async () => {
    const etag = (await h.request(`${P}/a1/audio`, { method: 'HEAD' })).headers.get('etag')!;
    expect((await h.request(`${P}/a1/audio`, { headers: { 'If-None-Match': etag } })).status).toBe(304);
    expect((await h.request(`${P}/a1/audio`, { headers: { Range: 'bytes=0-9', 'If-Range': etag } })).status).toBe(206);
    const stale = await h.request(`${P}/a1/audio`, { headers: { Range: 'bytes=0-9', 'If-Range': '"old"' } });
    expect(stale.status).toBe(200);
    expect((await stale.arrayBuffer()).byteLength).toBe(jfk.length);
  });

  it('is keyed and scoped like the other meeting routes', async () => {
    expect((await h.request(`${P}/a1/audio`, { headers: { Authorization: '' } })).status).toBe(401);
    expect((await h.request('/api/projects/other/meetings/a1/audio')).status).toBe(404);
    expect((await h.request(`${P}/ghost/audio`)).status).toBe(404);
    expect((await h.request(`${P}/a:1/audio`)).status).toBe(400);
    expect((await h.request(`${P}/a1/audio`, { headers: { Authorization: `Bearer ${OTHER_KEY}` } })).status).toBe(200);
  });

  it('answers 404 once retention removed the upload, while the transcript stays readable', async () => {
    const res = await h.request(P, { method: 'POST', body: uploadForm(jfk, { meetingId: 'a2' }) });
    expect(res.status).toBe(201);
    const key = (await h.meetings.find('acme', 'a2'))!._id;
    const claim = (await h.meetings.claim(key))!;
    await h.segments.saveChunk(key, 0, claim.epoch, [{ text: ' Ask not.', start: 0, end: 2, avgLogprob: -0.2, noSpeechProb: 0.01 }]);
    await h.meetings.checkpointChunk(key, claim.epoch, 0, 100);
    await h.meetings.complete(key, claim.epoch);
    expect((await h.request(`${P}/a2/audio`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 20));
    const sweeper = new LifecycleSweeper({
      meetings: h.meetings,
      segments: h.segments,
      deletion: h.deletion,
      queues: h.queues,
      retention: { retentionAudioMs: 5, retentionTranscriptMs: 0, lifecycleSweepIntervalMs: 60_000 },
      logger: silentLogger(),
    });
    expect((await sweeper.sweep()).audioRemoved).toBeGreaterThanOrEqual(1);
    const gone = await h.request(`${P}/a2/audio`);
    expect(gone.status).toBe(404);
    const body = (await gone.json()) as { error: { code: string; message: string } };
    expect(body.error).toMatchObject({ code: 'NOT_FOUND' });
    expect(body.error.message).toMatch(/removed by retention/);
    expect((await h.request(`${P}/a2/transcript?format=text`)).status).toBe(200);
  });
});

describe('audio helpers', () => {
  it('maps ffprobe format names to browser content types', () => {
    expect(audioContentType({ formatName: 'wav', codec: 'pcm_s16le' })).toBe('audio/wav');
    expect(audioContentType({ formatName: 'mov,mp4,m4a,3gp,3g2,mj2', codec: 'aac' })).toBe('audio/mp4');
    expect(audioContentType({ formatName: 'matroska,webm', codec: 'opus' })).toBe('audio/webm');
    expect(audioContentType({ formatName: 'ogg', codec: 'opus' })).toBe('audio/ogg');
    expect(audioContentType({ formatName: 'something', codec: 'x' })).toBe('application/octet-stream');
  });

  it('parses single byte ranges', () => {
    expect(parseRange(undefined, 10)).toBeNull();
    expect(parseRange('bytes=2-4', 10)).toEqual({ start: 2, end: 4 });
    expect(parseRange('bytes=8-', 10)).toEqual({ start: 8, end: 9 });
    expect(parseRange('bytes=-3', 10)).toEqual({ start: 7, end: 9 });
    expect(parseRange('bytes=-30', 10)).toEqual({ start: 0, end: 9 });
    expect(parseRange('bytes=10-', 10)).toBe('unsatisfiable');
    expect(parseRange('bytes=-0', 10)).toBe('unsatisfiable');
    expect(parseRange('bytes=-', 10)).toBeNull();
    expect(parseRange('bytes=5-2', 10)).toBeNull();
  });
});
