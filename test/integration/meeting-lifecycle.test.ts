/**
 * Cancel, delete and retention on the real app, FerretDB and Redis (no
 * worker: test/fault/cancel-delete.test.ts stops a running one). Canceling
 * removes the waiting job and can be undone by a start; deleting removes
 * the upload, the segments, the job and the meeting, leaves nothing
 * readable and keeps the id taken; the lifecycle sweeper applies retention
 * to finished meetings only, and counts what it removed.
 */
import { readdir, readFile } from 'node:fs/promises';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LifecycleSweeper } from '../../src/core/lifecycle-sweeper.js';
import { meetingKey } from '../../src/core/meetings/meeting-key.js';
import { TOMBSTONE_KEEP_MS } from '../../src/core/meetings/meeting.repository.js';
import { jobIdFor } from '../../src/core/queues.js';
import { silentLogger } from '../helpers/services.js';
import { type ApiHarness, createHarness, JFK, uploadForm } from './api-harness.js';

let h: ApiHarness;
let jfk: Uint8Array;
const P = '/api/projects/acme/meetings';
/** A meeting's key (its `_id`, and the name in its job id) in project acme. */
const key = (meetingId: string) => meetingKey('acme', meetingId);

beforeAll(async () => {
  h = await createHarness();
  jfk = await readFile(JFK);
});
afterAll(async () => {
  await h?.close();
});

async function upload(meetingId: string): Promise<Response> {
  return h.request(P, { method: 'POST', body: uploadForm(jfk, { meetingId }) });
}

async function registered(meetingId: string): Promise<void> {
  const res = await upload(meetingId);
  expect(res.status, await res.clone().text()).toBe(201);
}

const post = (path: string) => h.request(path, { method: 'POST' });

async function status(meetingId: string): Promise<{ status: string; jobState: string | null }> {
  const res = await h.request(`${P}/${meetingId}/transcription`);
  expect(res.status).toBe(200);
  return res.json() as Promise<{ status: string; jobState: string | null }>;
}

/** Completes the meeting as a worker would, with one saved segment. */
async function completeWithSegment(meetingId: string): Promise<void> {
  const id = key(meetingId);
  const claim = (await h.meetings.claim(id))!;
  await h.segments.saveChunk(id, 0, claim.epoch, [{ text: ' Ask not.', start: 0, end: 2, avgLogprob: -0.2, noSpeechProb: 0.01 }]);
  await h.meetings.checkpointChunk(id, claim.epoch, 0, 100);
  await h.meetings.complete(id, claim.epoch);
}

function sweeper(retention: { retentionAudioMs?: number; retentionTranscriptMs?: number }): LifecycleSweeper {
  return new LifecycleSweeper({
    meetings: h.meetings,
    segments: h.segments,
    deletion: h.deletion,
    queues: h.queues,
    retention: { retentionAudioMs: 0, retentionTranscriptMs: 0, lifecycleSweepIntervalMs: 60_000, ...retention },
    metrics: h.metrics,
    logger: silentLogger(),
  });
}

describe('cancel', () => {
  it('removes the waiting job, answers the same again, and a new start queues it anew', async () => {
    await registered('c1');
    expect((await post(`${P}/c1/transcription/start`)).status).toBe(202);
    expect(await h.queues.getJobStatus(jobIdFor(key('c1')))).not.toBeNull();

    const res = await post(`${P}/c1/transcription/cancel`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ meetingId: 'c1', projectId: 'acme', status: 'canceled', job: 'removed' });
    expect(await h.queues.getJobStatus(jobIdFor(key('c1')))).toBeNull();
    expect(await status('c1')).toMatchObject({ status: 'canceled', jobState: null });
    const epoch = (await h.meetings.findById(key('c1')))!.epoch;
    expect(epoch).toBe(1); // fenced like a takeover

    const again = await post(`${P}/c1/transcription/cancel`);
    expect(again.status).toBe(200);
    expect((await h.meetings.findById(key('c1')))!.epoch).toBe(epoch);

    const listed = await h.request(`${P}?status=canceled`);
    expect(((await listed.json()) as { meetings: { meetingId: string }[] }).meetings.map((m) => m.meetingId)).toEqual(['c1']);

    const restart = await post(`${P}/c1/transcription/start`);
    expect(restart.status).toBe(202);
    expect(await restart.json()).toMatchObject({ state: 'queued' });
    expect(await status('c1')).toMatchObject({ status: 'pending', jobState: 'waiting' });
    expect((await post(`${P}/c1/transcription/cancel`)).status).toBe(200);
    expect(await h.queues.getJobStatus(jobIdFor(key('c1')))).toBeNull();
  });

  it('refuses a finished meeting and one never started, changing nothing', async () => {
    await registered('c2');
    const never = await post(`${P}/c2/transcription/cancel`);
    expect(never.status).toBe(409);
    expect(((await never.json()) as { error: { message: string } }).error.message).toMatch(/never started/);
    await completeWithSegment('c2');
    const before = await h.snapshot();
    const done = await post(`${P}/c2/transcription/cancel`);
    expect(done.status).toBe(409);
    expect(((await done.json()) as { error: { message: string } }).error.message).toMatch(/is completed; only a pending or processing/);
    expect(await h.snapshot()).toEqual(before);
    expect((await h.meetings.findById(key('c2')))!.transcriptionStatus).toBe('completed');
  });
});

describe('delete', () => {
  it('removes the upload, segments, job and meeting; nothing is readable afterwards; idempotent; the id stays taken', async () => {
    await registered('d1');
    expect((await post(`${P}/d1/transcription/start`)).status).toBe(202);
    const claim = (await h.meetings.claim(key('d1')))!;
    await h.segments.saveChunk(key('d1'), 0, claim.epoch, [{ text: ' Hello.', start: 0, end: 1, avgLogprob: -0.1, noSpeechProb: 0 }]);
    await h.meetings.checkpointChunk(key('d1'), claim.epoch, 0, 50);
    // The claim above stands in for a worker; its job is still waiting (not locked), so it can be removed.
    const stored = (await h.meetings.findById(key('d1')))!.audio.path;
    expect(await readdir(h.storageDir, { recursive: true })).toContain(stored.slice(h.storageDir.length + 1));

    const res = await h.request(`${P}/d1`, { method: 'DELETE' });
    expect(res.status).toBe(204);
    expect(await h.meetings.findById(key('d1'))).toBeNull();
    expect(await h.segments.count(key('d1'))).toBe(0);
    expect(await h.queues.getJobStatus(jobIdFor(key('d1')))).toBeNull();
    expect(await h.mongo.db.collection('meeting_changes').countDocuments({ meetingId: key('d1') })).toBe(0);
    expect((await readdir(h.storageDir, { recursive: true })).filter((f) => f.includes('d1'))).toEqual([]);
    for (const path of [`${P}/d1/transcription`, `${P}/d1/transcript`]) expect((await h.request(path)).status).toBe(404);
    expect((await post(`${P}/d1/transcription/start`)).status).toBe(404);

    // The worker that held epoch 1 is sealed out: its next save is refused and leaves nothing.
    await expect(h.segments.saveChunk(key('d1'), 0, claim.epoch, [{ text: ' Late.', start: 0, end: 1, avgLogprob: 0, noSpeechProb: 0 }])).rejects.toThrow(/newer epoch/);
    await expect(h.segments.saveChunk(key('d1'), 5, claim.epoch + 1, [{ text: ' Late.', start: 0, end: 1, avgLogprob: 0, noSpeechProb: 0 }])).resolves.toBeUndefined();
    // (chunk 5 was not in any plan: the seal covers the chunks a worker could have planned, and the
    // meeting itself is gone, so its checkpoint would fail; the sweeper drops such rows with the tombstone.)
    await h.mongo.db.collection('segments').deleteMany({ meetingId: key('d1') });

    expect((await h.request(`${P}/d1`, { method: 'DELETE' })).status).toBe(204);
    const reuse = await upload('d1');
    expect(reuse.status).toBe(409);
    expect(((await reuse.json()) as { error: { message: string } }).error.message).toMatch(/was deleted; its id can be used again from/);
    // Another project never had it.
    expect((await h.request('/api/projects/globex/meetings/d1', { method: 'DELETE' })).status).toBe(404);
  });

  it('answers 202 while a worker holds the job, and the sweeper finishes once the job is free', async () => {
    await registered('d2');
    expect((await post(`${P}/d2/transcription/start`)).status).toBe(202);
    // Lock the job the way a worker does.
    const token = 'test-worker-token';
    const connection = new Redis(h.ns.redisUrl, { maxRetriesPerRequest: null });
    const worker = new Worker(h.queues.regular.name, null, { connection, prefix: h.config.queue.prefix, lockDuration: 30_000 });
    const locked = (await worker.getNextJob(token))!;
    expect(locked.id).toBe(jobIdFor(key('d2')));

    const res = await h.request(`${P}/d2`, { method: 'DELETE' });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ meetingId: 'd2', projectId: 'acme', status: 'deleting' });
    expect((await h.request(`${P}/d2/transcription`)).status).toBe(404);
    const sweep = sweeper({});
    expect((await sweep.sweep()).deletesFinished).toBe(0);
    expect(await h.meetings.findById(key('d2'))).not.toBeNull();

    await locked.moveToCompleted({ skipped: 'meeting deleted' }, token, false);
    await worker.close();
    connection.disconnect();
    expect((await sweep.sweep()).deletesFinished).toBe(1);
    expect(await h.meetings.findById(key('d2'))).toBeNull();
    expect(await h.queues.getJobStatus(jobIdFor(key('d2')))).toBeNull();
    expect((await h.request(`${P}/d2`, { method: 'DELETE' })).status).toBe(204);
  });

  it('frees an id once its tombstone is older than TOMBSTONE_KEEP_MS', async () => {
    await registered('d3');
    expect((await h.request(`${P}/d3`, { method: 'DELETE' })).status).toBe(204);
    expect((await upload('d3')).status).toBe(409);
    await h.mongo.db.collection('meeting_tombstones').updateOne({ _id: key('d3') as never }, { $set: { deletedAt: new Date(Date.now() - TOMBSTONE_KEEP_MS - 1000) } });
    expect((await sweeper({}).sweep()).idsFreed).toBe(1);
    await registered('d3');
  });
});

describe('retention', () => {
  it('removes finished meetings\' uploads, then the meetings, never a live one, and counts both', async () => {
    for (const id of ['r-done', 'r-live', 'r-new']) await registered(id);
    await completeWithSegment('r-done');
    await completeWithSegment('r-new');
    expect((await post(`${P}/r-live/transcription/start`)).status).toBe(202);
    const old = new Date(Date.now() - 3 * 24 * 3600_000);
    await h.mongo.db.collection('meetings').updateMany({ _id: { $in: ['r-done', 'r-live'].map(key) } as never }, { $set: { finishedAt: old } });
    const day = 24 * 3600_000;

    const audioPass = await sweeper({ retentionAudioMs: 2 * day }).sweep();
    expect(audioPass).toMatchObject({ audioRemoved: 1, meetingsDeleted: 0 });
    const done = (await h.meetings.findById(key('r-done')))!;
    expect(done.audio.removedAt).toBeInstanceOf(Date);
    expect((await readdir(h.storageDir, { recursive: true })).filter((f) => f.includes('r-done'))).toEqual([]);
    expect((await h.request(`${P}/r-done/transcript?format=text`).then((r) => r.text())).trim()).toBe('Ask not.');
    expect((await h.meetings.findById(key('r-live')))!.audio.removedAt).toBeUndefined();
    expect((await h.meetings.findById(key('r-new')))!.audio.removedAt).toBeUndefined();

    const transcriptPass = await sweeper({ retentionTranscriptMs: 2 * day }).sweep();
    expect(transcriptPass).toMatchObject({ meetingsDeleted: 1 });
    expect(await h.meetings.findById(key('r-done'))).toBeNull();
    expect(await h.segments.count(key('r-done'))).toBe(0);
    expect(await h.meetings.findById(key('r-live'))).not.toBeNull();
    expect(await h.meetings.findById(key('r-new'))).not.toBeNull();

    const metrics = await h.metrics.registry.getSingleMetricAsString('meno_retention_removed_total');
    expect(metrics).toMatch(/kind="audio"[^\n]* 1/);
    expect(metrics).toMatch(/kind="meeting"[^\n]* 1/);
  });

  it('refuses to start again a meeting whose audio retention removed', async () => {
    await registered('r-gone');
    await completeWithSegment('r-gone');
    await h.mongo.db.collection('meetings').updateOne({ _id: key('r-gone') as never }, { $set: { finishedAt: new Date(Date.now() - 10_000) } });
    await sweeper({ retentionAudioMs: 5000 }).sweep();
    // Completed meetings cannot be started anyway; a canceled one could, were its audio kept.
    await h.mongo.db.collection('meetings').updateOne({ _id: key('r-gone') as never }, { $set: { transcriptionStatus: 'canceled' } });
    const res = await post(`${P}/r-gone/transcription/start`);
    expect(res.status).toBe(409);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/audio was removed by retention/);
  });
});
