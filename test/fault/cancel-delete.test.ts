/**
 * Cancel and delete while a real worker process transcribes: the worker
 * stops at its next chunk boundary without another write; a canceled
 * meeting keeps its saved chunks and resumes from them when started again;
 * a deleted one leaves nothing behind, not even what the worker was saving
 * when the delete came.
 */
import { readdir, readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { longformClip } from '../helpers/fixtures.js';
import { chunksSavedBy, registerMeeting, startTranscription, storedSegments, transcriptionStatus, waitForStatus } from '../helpers/meetings.js';
import type { ServiceProcess } from '../helpers/processes.js';
import { type Stack, startStack } from '../helpers/stack.js';

let stack: Stack;
let worker: ServiceProcess;

beforeAll(async () => {
  stack = await startStack({ env: { LIFECYCLE_SWEEP_INTERVAL_MS: '500' } });
  await stack.startApi();
  worker = await stack.startWorker('w');
}, 60_000);
afterAll(async () => {
  await stack?.dispose();
});

const STOPPED = (endedBy: string, meetingId: string) => (l: Record<string, unknown>) =>
  l.meetingId === meetingId && l.msg === `meeting ${endedBy} by its client; stopped at a chunk boundary`;

describe('cancel while a worker transcribes', () => {
  it('stops at the next chunk boundary, keeps the saved chunks, and a new start resumes from them', async () => {
    await registerMeeting(stack, 'p', 'cx', longformClip(150));
    await startTranscription(stack, 'p', 'cx');
    await worker.waitForLog(() => chunksSavedBy(worker.logs(), 'cx').length >= 2, 120_000);

    const res = await stack.api('/api/projects/p/meetings/cx/transcription/cancel', { method: 'POST' });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'canceled', job: 'active' });
    await worker.waitForLog(STOPPED('canceled', 'cx'), 60_000);
    const savedBefore = chunksSavedBy(worker.logs(), 'cx');
    const meeting = await stack.db.collection('meetings').findOne({ _id: 'p.cx' as never });
    expect(meeting?.transcriptionStatus).toBe('canceled');
    expect([...(meeting?.doneChunks as number[])].sort((a, b) => a - b)).toEqual([...savedBefore].sort((a, b) => a - b));
    const kept = (await storedSegments(stack, 'cx')).docs.length;
    expect(kept).toBeGreaterThan(0);
    expect((await transcriptionStatus(stack, 'p', 'cx')).status).toBe('canceled');

    const again = await startTranscription(stack, 'p', 'cx');
    expect(['queued', 'deferred']).toContain(again.state);
    const resumed = await worker.waitForLog((l) => l.msg === 'job started' && l.meetingId === 'cx' && Number(l.resumedChunks) > 0, 60_000);
    expect(Number(resumed.resumedChunks)).toBe(savedBefore.length);
    await waitForStatus(stack, 'p', 'cx', 'completed', 180_000);
    const allSaved = chunksSavedBy(worker.logs(), 'cx');
    // No chunk saved before the cancel was transcribed again.
    expect(allSaved.length).toBe(new Set(allSaved).size);
    const { duplicateKeys, duplicateSpans } = await storedSegments(stack, 'cx');
    expect(duplicateKeys).toEqual([]);
    expect(duplicateSpans).toEqual([]);
  }, 300_000);
});

describe('delete while a worker transcribes', () => {
  it('removes the upload, segments, job and meeting; the worker writes nothing after the delete', async () => {
    const form = new FormData();
    form.append('meetingId', 'dx');
    form.append('file', new Blob([await readFile(longformClip(150))]), 'dx.flac');
    const created = await stack.api('/api/projects/p/meetings', { method: 'POST', body: form });
    expect(created.status, await created.clone().text()).toBe(201);
    await startTranscription(stack, 'p', 'dx');
    await worker.waitForLog(() => chunksSavedBy(worker.logs(), 'dx').length >= 2, 120_000);

    const res = await stack.api('/api/projects/p/meetings/dx', { method: 'DELETE' });
    const deletedAt = Date.now();
    expect([202, 204]).toContain(res.status);
    expect((await stack.api('/api/projects/p/meetings/dx/transcription')).status).toBe(404);
    await worker.waitForLog(STOPPED('deleted', 'dx'), 60_000);
    // The sweeper finishes the delete once the worker let go of the job.
    await expect.poll(async () => (await stack.api('/api/projects/p/meetings/dx', { method: 'DELETE' })).status, { timeout: 15_000, interval: 300 }).toBe(204);
    await new Promise((r) => setTimeout(r, 2000));

    expect(await stack.db.collection('meetings').countDocuments({ _id: 'p.dx' as never })).toBe(0);
    expect(await stack.db.collection('segments').countDocuments({ meetingId: 'p.dx' })).toBe(0);
    expect(await stack.db.collection('meeting_changes').countDocuments({ meetingId: 'p.dx' })).toBe(0);
    expect(await stack.db.collection('meeting_tombstones').countDocuments({ _id: 'p.dx' as never })).toBe(1);
    expect(await stack.regular.getJob('transcription-p.dx')).toBeUndefined();
    expect((await readdir(stack.env.STORAGE_DIR, { recursive: true })).filter((f) => f.includes('dx'))).toEqual([]);
    // A chunk is logged as saved only once its checkpoint is in: none after the delete answered.
    const lateSaves = worker.logs().filter((l) => l.msg === 'chunk saved' && l.meetingId === 'dx' && Number(l.time) > deletedAt);
    expect(lateSaves).toEqual([]);
  }, 300_000);
});
