/** What a client does through the HTTP API, and what an operator checks in MongoDB, for e2e and fault tests. */
import { copyFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { Job, Queue } from 'bullmq';
import { expect } from 'vitest';
import type { Stack } from './stack.js';

export interface TranscriptionStatusBody {
  status: 'pending' | 'processing' | 'completed' | 'failed';
  progress: number;
  attempts: number | null;
  error: { errorMessage: string; attempts: number; lastAttempt: string } | null;
  segmentsSaved: number;
  jobId?: string;
  queue?: string;
}

/** Copies the file under the stack's AUDIO_ROOT and registers it by path. */
export async function registerMeeting(stack: Stack, projectId: string, meetingId: string, file: string): Promise<void> {
  const name = `${meetingId}${extname(file)}`;
  await copyFile(file, join(stack.audioRoot, name));
  const res = await stack.api(`/api/projects/${projectId}/meetings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ meetingId, audioUri: name }),
  });
  expect(res.status, await res.clone().text()).toBe(201);
}

export async function startTranscription(stack: Stack, projectId: string, meetingId: string): Promise<{ jobId: string; queue: string; state: string }> {
  const res = await stack.api(`/api/projects/${projectId}/meetings/${meetingId}/transcription/start`, { method: 'POST' });
  expect(res.status, await res.clone().text()).toBe(202);
  return (await res.json()) as { jobId: string; queue: string; state: string };
}

export async function transcriptionStatus(stack: Stack, projectId: string, meetingId: string): Promise<TranscriptionStatusBody> {
  const res = await stack.api(`/api/projects/${projectId}/meetings/${meetingId}/transcription`);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as TranscriptionStatusBody;
}

/** Polls the API until the meeting reaches the status, recording every progress value seen. */
export async function waitForStatus(
  stack: Stack,
  projectId: string,
  meetingId: string,
  status: TranscriptionStatusBody['status'],
  timeoutMs = 120_000,
): Promise<{ final: TranscriptionStatusBody; seen: TranscriptionStatusBody[] }> {
  const seen: TranscriptionStatusBody[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const body = await transcriptionStatus(stack, projectId, meetingId).catch(() => undefined);
    if (body) {
      seen.push(body);
      if (body.status === status) return { final: body, seen };
    }
    if (Date.now() > deadline) throw new Error(`meeting ${meetingId} not ${status} after ${timeoutMs} ms; last: ${JSON.stringify(seen.at(-1))}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** Segments of a meeting as stored, and the (chunk, index) keys or texts seen more than once. */
export async function storedSegments(stack: Stack, meetingId: string) {
  // Segments are stored under the meeting's key (`<projectId>.<meetingId>`); tests name meetings by their id.
  const meeting = await stack.db.collection<{ _id: string }>('meetings').findOne({ meetingId });
  const docs = await stack.db.collection('segments').find({ meetingId: meeting?._id ?? meetingId }).sort({ chunk: 1, index: 1 }).toArray();
  const keys = docs.map((d) => `${d.chunk}:${d.index}`);
  const spans = docs.map((d) => `${Number(d.start).toFixed(2)}|${d.text}`);
  return {
    docs,
    duplicateKeys: keys.filter((k, i) => keys.indexOf(k) !== i),
    duplicateSpans: spans.filter((k, i) => spans.indexOf(k) !== i),
  };
}

/** Chunk indices each worker logged as saved for the meeting. */
export function chunksSavedBy(logs: Record<string, unknown>[], meetingId: string): number[] {
  return logs.filter((l) => l.msg === 'chunk saved' && l.meetingId === meetingId).map((l) => Number(l.chunk));
}

/**
 * The job's BullMQ record once it has reached `state`. The worker writes the
 * meeting's final status to MongoDB before BullMQ moves the job, so a read
 * right after the API shows completed/failed can still find it active.
 */
export async function settledJob(queue: Queue, jobId: string, state: 'completed' | 'failed'): Promise<Job> {
  await expect.poll(async () => (await queue.getJob(jobId))?.getState(), { timeout: 10_000 }).toBe(state);
  return (await queue.getJob(jobId))!;
}
