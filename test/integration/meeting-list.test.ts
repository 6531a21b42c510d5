/**
 * `GET /api/projects/:projectId/meetings` on the real app and FerretDB:
 * newest first with a stable tie-break, cursor pages that neither skip nor
 * repeat (also while meetings are added), status and time filters, a capped
 * limit, one project's meetings only, and clear 400s for bad queries.
 */
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MeetingRepository } from '../../src/core/meetings/meeting.repository.js';
import { type ApiHarness, createHarness, JFK } from './api-harness.js';

let h: ApiHarness;
const T0 = new Date('2026-11-01T10:00:00.000Z');

interface Page {
  meetings: { meetingId: string; status: string; createdAt: string; errorCode: string | null }[];
  nextCursor: string | null;
}

async function list(query: string, project = 'acme'): Promise<Page> {
  const res = await h.request(`/api/projects/${project}/meetings${query}`);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as Page;
}

async function all(query: string, limit: number): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const page = await list(`?${query}${query ? '&' : ''}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
    expect(page.meetings.length).toBeLessThanOrEqual(limit);
    ids.push(...page.meetings.map((m) => m.meetingId));
    cursor = page.nextCursor;
  } while (cursor);
  return ids;
}

beforeAll(async () => {
  h = await createHarness();
  await copyFile(JFK, join(h.audioRoot, 'jfk.wav'));
  const audio = { path: join(h.audioRoot, 'jfk.wav'), source: 'uri' as const, durationSec: 11, sizeBytes: 1, sha256: 'x', codec: 'pcm_s16le', formatName: 'wav' };
  // m0 … m6, one minute apart; m3a and m3b share m3's creation time (the id breaks the tie).
  for (const [id, minute] of [['m0', 0], ['m1', 1], ['m2', 2], ['m3', 3], ['m3a', 3], ['m3b', 3], ['m4', 4], ['m5', 5], ['m6', 6]] as const) {
    const at = new MeetingRepository(h.mongo.db, () => new Date(T0.getTime() + minute * 60_000));
    await at.create({ id, projectId: 'acme', audio });
  }
  await new MeetingRepository(h.mongo.db).create({ id: 'other-project', projectId: 'globex', audio });
  const claim = await h.meetings.claim('m2');
  await h.meetings.fail('m2', { errorMessage: 'bad', attempts: 1, lastAttempt: new Date(), code: 'BAD_AUDIO' }, claim!.epoch);
  const done = await h.meetings.claim('m5');
  await h.meetings.complete('m5', done!.epoch);
});

afterAll(async () => {
  await h?.close();
});

describe('listing a project\'s meetings', () => {
  it('pages newest first, ties broken by id, with no meeting skipped or repeated', async () => {
    const expected = ['m6', 'm5', 'm4', 'm3b', 'm3a', 'm3', 'm2', 'm1', 'm0'];
    for (const limit of [1, 2, 4, 100]) expect(await all('', limit)).toEqual(expected);
    const first = await list('?limit=3');
    expect(first.meetings[0]).toMatchObject({ meetingId: 'm6', status: 'pending', createdAt: '2026-11-01T10:06:00.000Z', errorCode: null });
    expect(first.nextCursor).toEqual(expect.any(String));
  });

  it('keeps its place when meetings are added between pages', async () => {
    const first = await list('?limit=4');
    await h.meetings.create({ id: 'late', projectId: 'acme', audio: (await h.meetings.findById('m0'))!.audio });
    const second = await list(`?limit=100&cursor=${first.nextCursor}`);
    expect([...first.meetings, ...second.meetings].map((m) => m.meetingId)).toEqual(['m6', 'm5', 'm4', 'm3b', 'm3a', 'm3', 'm2', 'm1', 'm0']);
    expect((await list('?limit=1')).meetings[0].meetingId).toBe('late');
  });

  it('filters by status and creation time', async () => {
    expect(await all('status=failed', 5)).toEqual(['m2']);
    expect(await all('status=completed,failed', 1)).toEqual(['m5', 'm2']);
    expect((await list('?status=failed')).meetings[0].errorCode).toBe('BAD_AUDIO');
    expect(await all('createdFrom=2026-11-01T10:03:00Z&createdBefore=2026-11-01T10:05:00Z', 2)).toEqual(['m4', 'm3b', 'm3a', 'm3']);
    expect(await all('status=pending&createdBefore=2026-11-01T10:02:00Z', 10)).toEqual(['m1', 'm0']);
  });

  it('shows one project only', async () => {
    const page = await list('?limit=100', 'globex');
    expect(page.meetings.map((m) => m.meetingId)).toEqual(['other-project']);
    expect((await list('', 'empty')).meetings).toEqual([]);
  });

  it.each([
    ['?limit=101', /limit: expected at most 100/],
    ['?limit=0', /limit/],
    ['?status=done', /status\.0: expected pending, processing, completed, failed/],
    ['?createdFrom=yesterday', /createdFrom: expected an ISO 8601 time/],
    ['?cursor=bm90LWEtY3Vyc29y', /cursor: not a cursor this API gave out/],
    ['?sort=asc', /sort/],
  ])('refuses %s with a 400 that says why', async (query, message) => {
    const res = await h.request(`/api/projects/acme/meetings${query}`);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('VALIDATION_FAILED');
    expect(body.error.message).toMatch(message);
  });
});
