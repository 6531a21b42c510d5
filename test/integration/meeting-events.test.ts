/**
 * `GET .../events` (Server-Sent Events) on the real app, FerretDB and Redis,
 * with the repositories written the way a worker writes them: status and
 * progress, each chunk's segments once checkpointed, the end, resumption with
 * Last-Event-ID, the per-key cap, deletion, and clear errors.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meetingKey } from '../../src/core/meetings/meeting-key.js';
import { type ApiHarness, createHarness, JFK, uploadForm } from './api-harness.js';

let h: ApiHarness;
const P = '/api/projects/acme/meetings';
/** A meeting's key (its `_id`) in project acme. */
const key = (meetingId: string) => meetingKey('acme', meetingId);

beforeAll(async () => {
  h = await createHarness({ env: { EVENT_STREAM_POLL_MS: '50', MAX_EVENT_STREAMS_PER_KEY: '2' } });
});
afterAll(async () => {
  await h?.close();
});

interface SseEvent {
  event: string;
  id: string;
  data: Record<string, unknown>;
}

/** Reads events off a streaming response as they arrive. */
function sseReader(res: Response) {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  return {
    async next(timeoutMs = 10_000): Promise<SseEvent | null> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const end = buffer.indexOf('\n\n');
        if (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (block.startsWith(':')) continue; // keep-alive comment
          const field = (name: string) => block.split('\n').find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2) ?? '';
          return { event: field('event'), id: field('id'), data: JSON.parse(field('data')) as Record<string, unknown> };
        }
        const chunk = await Promise.race([reader.read(), new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no event in time')), deadline - Date.now()))]);
        if (chunk.done) return null;
        buffer += chunk.value;
      }
    },
    cancel: () => reader.cancel(),
  };
}

async function startedMeeting(meetingId: string): Promise<void> {
  const res = await h.request(P, { method: 'POST', body: uploadForm(await readFile(JFK), { meetingId }) });
  expect(res.status).toBe(201);
  expect((await h.request(`${P}/${meetingId}/transcription/start`, { method: 'POST' })).status).toBe(202);
}

const segment = (text: string, start: number) => ({ text, start, end: start + 1, avgLogprob: -0.1, noSpeechProb: 0.01 });

describe('meeting events (SSE)', () => {
  it('streams status, each checkpointed chunk in order, and the end; then closes', async () => {
    await startedMeeting('e1');
    const res = await h.request(`${P}/e1/events`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = sseReader(res);
    expect(await events.next()).toMatchObject({ event: 'status', id: '0', data: { status: 'pending', progress: 0 } });

    const claim = (await h.meetings.claim(key('e1')))!;
    await h.meetings.recordPlan(key('e1'), claim.epoch, { planner: 'fixed', durationSec: 11, chunks: [{ index: 0, start: 0, end: 6 }, { index: 1, start: 6, end: 11 }] });
    // A poll may fall between the claim and the plan: then a status without the chunk total comes first.
    let processing = await events.next();
    if (processing?.data.status === 'processing' && (processing.data.chunks as { total: number | null }).total === null) processing = await events.next();
    expect(processing).toMatchObject({ event: 'status', data: { status: 'processing', chunks: { total: 2, done: 0 } } });
    // Segments saved but not yet checkpointed are not sent: they could still be redone.
    await h.segments.saveChunk(key('e1'), 0, claim.epoch, [segment(' And so,', 0), segment(' my fellow Americans,', 1)]);
    await h.meetings.checkpointChunk(key('e1'), claim.epoch, 0, 50);
    expect(await events.next()).toMatchObject({ event: 'segments', id: '1', data: { chunk: 0, segments: [{ text: ' And so,' }, { text: ' my fellow Americans,' }] } });
    expect(await events.next()).toMatchObject({ event: 'status', id: '1', data: { progress: 50 } });
    await h.segments.saveChunk(key('e1'), 1, claim.epoch, [segment(' ask not.', 6)]);
    await h.meetings.checkpointChunk(key('e1'), claim.epoch, 1, 99.9);
    await h.meetings.complete(key('e1'), claim.epoch);
    const rest: SseEvent[] = [];
    for (let e = await events.next(); e; e = await events.next()) rest.push(e);
    // One or two status events (99.9 %, then completed) depending on how the writes fall between polls.
    expect(rest[0]).toMatchObject({ event: 'segments', id: '2', data: { chunk: 1 } });
    expect(rest.slice(1, -1).map((e) => [e.event, e.id])).toEqual(rest.slice(1, -1).map(() => ['status', '2']));
    expect(rest.at(-1)).toMatchObject({ event: 'completed', id: '2', data: { status: 'completed', progress: 100, chunks: { total: 2, done: 2 } } });
  });

  it('resumes after Last-Event-ID with only the chunks the client lacks', async () => {
    const res = await h.request(`${P}/e1/events`, { headers: { 'Last-Event-ID': '1' } });
    const events = sseReader(res);
    const all: SseEvent[] = [];
    for (let e = await events.next(); e; e = await events.next()) all.push(e);
    expect(all.map((e) => e.event)).toEqual(['segments', 'status', 'completed']);
    expect(all[0].data).toMatchObject({ chunk: 1, segments: [{ text: ' ask not.' }] });
  });

  it('caps open streams per key (429 with Retry-After), and frees a slot when a client leaves', async () => {
    await startedMeeting('e2');
    const a = sseReader(await h.request(`${P}/e2/events`));
    const b = sseReader(await h.request(`${P}/e2/events`));
    await a.next();
    await b.next();
    const third = await h.request(`${P}/e2/events`);
    expect(third.status).toBe(429);
    expect(third.headers.get('Retry-After')).toBe('5');
    await a.cancel();
    await expect.poll(async () => {
      const res = await h.request(`${P}/e2/events`);
      const ok = res.status === 200;
      if (ok) await res.body!.cancel();
      return ok;
    }, { timeout: 5000 }).toBe(true);
    await b.cancel();
  });

  it('tells a client its meeting was deleted, then closes', async () => {
    await startedMeeting('e3');
    const events = sseReader(await h.request(`${P}/e3/events`));
    await events.next();
    expect((await h.request(`${P}/e3`, { method: 'DELETE' })).status).toBe(204);
    expect(await events.next()).toMatchObject({ event: 'deleted', data: { status: 'deleted' } });
    expect(await events.next()).toBeNull();
  });

  it('answers 404 for an unknown meeting and 400 for a Last-Event-ID it never sent', async () => {
    expect((await h.request(`${P}/nope/events`)).status).toBe(404);
    expect((await h.request('/api/projects/globex/meetings/e1/events')).status).toBe(404);
    const bad = await h.request(`${P}/e1/events`, { headers: { 'Last-Event-ID': 'abc' } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/Last-Event-ID/);
  });
});
