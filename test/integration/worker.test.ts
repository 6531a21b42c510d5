/**
 * The worker as a real process against its own redis-server and FerretDB:
 * progressive saves, graceful hand-back on SIGTERM and permanent failures.
 * Meetings are registered through the core service here; the API has its
 * own end-to-end suite.
 */
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/core/config.js';
import { type MeetingAudio, MeetingRepository } from '../../src/core/meetings/meeting.repository.js';
import { createRedisConnection } from '../../src/core/redis.js';
import { TranscriptionQueues } from '../../src/core/transcription-queues.js';
import { TranscriptionService } from '../../src/core/transcription.service.js';
import { BAD_INPUTS, JFK, longformClip } from '../helpers/fixtures.js';
import { settledJob } from '../helpers/meetings.js';
import { byMsg } from '../helpers/processes.js';
import { silentLogger } from '../helpers/services.js';
import { type Stack, startStack } from '../helpers/stack.js';

const logger = silentLogger();
let stack: Stack;
let meetings: MeetingRepository;
let service: TranscriptionService;
let queues: TranscriptionQueues;

async function register(id: string, file: string, durationSec: number): Promise<void> {
  const path = join(stack.audioRoot, `${id}${file.slice(file.lastIndexOf('.'))}`);
  await copyFile(file, path);
  const audio: MeetingAudio = { path, source: 'uri', durationSec, sizeBytes: 1, sha256: '-', codec: '-', formatName: '-' };
  await meetings.create({ id, projectId: 'p', audio });
}

async function meetingDoc(id: string) {
  return stack.db.collection('meetings').findOne({ _id: id as never });
}

beforeAll(async () => {
  stack = await startStack();
  const config = loadConfig(stack.env);
  meetings = new MeetingRepository(stack.db);
  await meetings.ensureIndexes();
  queues = new TranscriptionQueues(createRedisConnection({ url: stack.redis.url, role: 'producer', logger }), config.queue, logger);
  service = new TranscriptionService(meetings, queues, config.queue, logger);
}, 60_000);

afterAll(async () => {
  await queues?.close();
  await stack?.dispose();
});

describe('worker process', () => {
  it('transcribes a meeting with progressive, ordered, unique segments and monotonic progress', async () => {
    await stack.startWorker('w1');
    await register('short', JFK, 11);
    await service.start('p', 'short');
    const seen: number[] = [];
    await expect
      .poll(async () => {
        const doc = await meetingDoc('short');
        seen.push(doc?.transcriptionProgress ?? 0);
        return doc?.transcriptionStatus;
      }, { timeout: 60_000, interval: 100 })
      .toBe('completed');
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(seen.at(-1)).toBe(100);
    const segments = await stack.db.collection('segments').find({ meetingId: 'short' }).sort({ chunk: 1, index: 1 }).toArray();
    expect(segments.length).toBeGreaterThan(0);
    expect(segments.map((s) => s.text).join(' ').toLowerCase()).toContain('ask not what your country can do for you');
    const keys = new Set(segments.map((s) => `${s.chunk}:${s.index}`));
    expect(keys.size).toBe(segments.length);
    await settledJob(stack.regular, 'transcription-short', 'completed');
  }, 120_000);

  it('fails corrupt audio at once, without retries, with the failure metadata', async () => {
    await register('corrupt', join(BAD_INPUTS, 'not_audio.wav'), 5);
    await service.start('p', 'corrupt');
    await expect.poll(async () => (await meetingDoc('corrupt'))?.transcriptionStatus, { timeout: 30_000 }).toBe('failed');
    const doc = await meetingDoc('corrupt');
    expect(doc?.metadata.transcription).toMatchObject({ attempts: 1, code: 'BAD_AUDIO' });
    expect(doc?.metadata.transcription.errorMessage).toMatch(/./);
    const job = await settledJob(stack.regular, 'transcription-corrupt', 'failed');
    expect(job.attemptsMade).toBe(1);
  }, 60_000);

  it('fails a language the model lacks at once, without retries (issue 10, item 6)', async () => {
    // Cantonese came with large-v3: the API lets it through, tiny's engine refuses it.
    await register('cantonese', JFK, 11);
    await service.start('p', 'cantonese', { language: 'yue' });
    await expect.poll(async () => (await meetingDoc('cantonese'))?.transcriptionStatus, { timeout: 30_000 }).toBe('failed');
    const doc = await meetingDoc('cantonese');
    expect(doc?.metadata.transcription).toMatchObject({ attempts: 1, code: 'VALIDATION_FAILED' });
    expect(doc?.metadata.transcription.errorMessage).toMatch(/language "yue" is not supported by whisper-tiny/);
    const job = await settledJob(stack.regular, 'transcription-cantonese', 'failed');
    expect(job.attemptsMade).toBe(1);
  }, 60_000);

  it('on SIGTERM hands the job back at a chunk boundary; another worker resumes it at once without redoing saved chunks', async () => {
    const [w1] = stack.processes.filter((p) => p.name === 'w1');
    const w2 = await stack.startWorker('w2');
    await register('handback', longformClip(120), 120);
    await service.start('p', 'handback');
    const first = await Promise.race([w1, w2].map((w) => w.waitForLog(byMsg('chunk saved', { meetingId: 'handback' }), 60_000).then(() => w)));
    const other = first === w1 ? w2 : w1;
    const sentAt = Date.now();
    first.signal('SIGTERM');
    const handedBack = await first.waitForLog(byMsg('job handed back to the queue (shutdown)'), 20_000);
    const exit = await first.exited;
    expect(exit.code).toBe(0);
    expect(exit.at - sentAt).toBeLessThan(Number(stack.env.SHUTDOWN_GRACE_MS));
    expect(first.logs().some((l) => l.msg === 'onnx sessions released')).toBe(true);
    const resumed = await other.waitForLog((l) => l.msg === 'job started' && l.meetingId === 'handback', 10_000);
    expect(Number(resumed.time) - Number(handedBack.time)).toBeLessThan(2000);
    expect(Number(resumed.resumedChunks)).toBeGreaterThan(0);
    // The resumed pickup reuses the stored plan (same chunk indices, no second VAD pass).
    const replanned = await other.waitForLog((l) => l.msg === 'chunks planned' && l.meetingId === 'handback', 10_000);
    expect(replanned.reused).toBe(true);
    await expect.poll(async () => (await meetingDoc('handback'))?.transcriptionStatus, { timeout: 120_000 }).toBe('completed');
    // No chunk transcribed twice: the chunks the second worker saved are exactly the ones the first did not.
    const savedBy = (w: typeof first) => w.logs().filter((l) => l.msg === 'chunk saved' && l.meetingId === 'handback').map((l) => Number(l.chunk));
    const a = savedBy(first);
    const b = savedBy(other);
    expect(a.filter((c) => b.includes(c))).toEqual([]);
    const job = await settledJob(stack.regular, 'transcription-handback', 'completed');
    // BullMQ counts the attempt that completed; the hand-back itself spent none and no stall happened.
    expect(job.attemptsMade).toBe(1);
    expect(job.stalledCounter).toBe(0);
    const segments = await stack.db.collection('segments').find({ meetingId: 'handback' }).toArray();
    expect(new Set(segments.map((s) => `${s.chunk}:${s.index}`)).size).toBe(segments.length);
  }, 240_000);
});
