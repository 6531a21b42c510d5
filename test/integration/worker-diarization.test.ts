/**
 * Diarization in the worker (issue 15): a real worker process labels the
 * speakers of a meeting after transcribing it, and the transcript shows them;
 * a diarization that fails (here: its models are missing) is recorded with
 * its reason while the meeting completes with its transcript.
 */
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/core/config.js';
import { type DiarizationRecord, type MeetingAudio, MeetingRepository } from '../../src/core/meetings/meeting.repository.js';
import { labelSpeakers } from '../../src/core/meetings/speakers.js';
import { createRedisConnection } from '../../src/core/redis.js';
import { formatTranscript } from '../../src/core/transcript-format.js';
import { TranscriptionQueues } from '../../src/core/transcription-queues.js';
import { TranscriptionService } from '../../src/core/transcription.service.js';
import { createTranscriber } from '../../src/inference/transcriber.js';
import { diarizeStep } from '../../src/worker/diarize-step.js';
import { JFK, longformClip } from '../helpers/fixtures.js';
import { registerMeeting, waitForStatus } from '../helpers/meetings.js';
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

describe('diarization in the worker', () => {
  it('labels the speakers of a meeting after its transcription', async () => {
    await stack.startWorker('w1');
    // espeak 0-2.1 s, then LibriSpeech readers 2033, 3331 and 1089.
    await register('talk', longformClip(30), 30);
    await service.start('p', 'talk', { diarize: true });
    await expect
      .poll(async () => {
        const doc = await meetings.findById('talk');
        return doc?.transcriptionStatus === 'failed' ? `failed: ${doc.metadata.transcription?.errorMessage}` : doc?.transcriptionStatus;
      }, { timeout: 120_000, interval: 250 })
      .toBe('completed');
    const meeting = await meetings.findById('talk');
    const diarization = meeting!.diarization!;
    expect(diarization).toMatchObject({ status: 'completed' });
    expect(diarization.speakers).toBeGreaterThanOrEqual(3);
    expect(diarization.speakers).toBeLessThanOrEqual(5);
    const segments = await stack.db.collection('segments').find({ meetingId: 'talk' }).sort({ chunk: 1, index: 1 }).toArray();
    const labelled = labelSpeakers(segments.map((s) => ({ start: s.start as number, end: s.end as number, text: s.text as string })), diarization);
    expect(new Set(labelled.map((s) => s.speaker)).size).toBeGreaterThanOrEqual(3);
    expect(formatTranscript('vtt', labelled)).toMatch(/<v Speaker \d+>/);
    expect(formatTranscript('text', labelled)).toMatch(/^\[Speaker \d+\] /m);
  }, 180_000);

  it('shows speakers through the API: JSON segments, WebVTT voices, RTTM', async () => {
    await stack.startApi();
    await registerMeeting(stack, 'acme', 'duo', longformClip(20));
    const start = await stack.api('/api/projects/acme/meetings/duo/transcription/start', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ numSpeakers: 3 }),
    });
    expect(start.status, await start.clone().text()).toBe(202);
    await waitForStatus(stack, 'acme', 'duo', 'completed', 120_000);
    const json = (await (await stack.api('/api/projects/acme/meetings/duo/transcript')).json()) as {
      diarization: { status: string; speakers: number };
      segments: { speaker?: string; text: string }[];
    };
    expect(json.diarization).toEqual({ status: 'completed', speakers: 3 });
    expect(json.segments.every((s) => /^Speaker [1-3]$/.test(s.speaker ?? ''))).toBe(true);
    expect(await (await stack.api('/api/projects/acme/meetings/duo/transcript?format=vtt')).text()).toMatch(/\n<v Speaker [1-3]>/);
    const rttm = await stack.api('/api/projects/acme/meetings/duo/transcript?format=rttm');
    expect(rttm.status).toBe(200);
    const lines = (await rttm.text()).trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(3);
    for (const line of lines) expect(line).toMatch(/^SPEAKER duo 1 \d+\.\d{3} \d+\.\d{3} <NA> <NA> Speaker_[1-3] <NA> <NA>$/);
  }, 180_000);

  it('a worker killed while diarizing: the next pickup diarizes without transcribing again', async () => {
    const workers = [...stack.processes.filter((p) => p.running() && p.name !== 'api'), await stack.startWorker('w2')];
    await register('resume', longformClip(30), 30);
    await service.start('p', 'resume', { diarize: true });
    const victim = await Promise.race(
      workers.map((w) => w.waitForLog((l) => l.msg === 'diarizing' && l.meetingId === 'resume', 120_000).then(() => w)),
    );
    victim.signal('SIGKILL');
    await victim.exited;
    const survivor = workers.find((w) => w !== victim)!;
    await expect.poll(async () => (await meetings.findById('resume'))?.transcriptionStatus, { timeout: 120_000, interval: 250 }).toBe('completed');
    const meeting = await meetings.findById('resume');
    expect(meeting!.diarization).toMatchObject({ status: 'completed' });
    const survivorLogs = survivor.logs().filter((l) => l.meetingId === 'resume');
    expect(survivorLogs.some((l) => l.msg === 'diarization saved')).toBe(true);
    expect(survivorLogs.filter((l) => l.msg === 'chunk saved')).toEqual([]);
    expect(victim.logs().filter((l) => l.meetingId === 'resume' && l.msg === 'chunk saved').length).toBe(meeting!.plan!.chunks.length);
  }, 240_000);

  it('records a failed diarization with its reason and keeps the transcript', async () => {
    await register('nomodels', JFK, 11);
    const claim = await meetings.claim('nomodels');
    const transcriber = await createTranscriber({ model: 'tiny', threads: 1, executionProvider: 'cpu', diarizationModelDir: '/nonexistent/diarization', logger });
    try {
      const record = (await diarizeStep({
        meetingId: 'nomodels',
        epoch: claim!.epoch,
        audioUri: (await meetings.findById('nomodels'))!.audio.path,
        options: { diarize: true },
        existing: undefined,
        transcriber,
        meetings,
        signal: new AbortController().signal,
        log: logger,
      })) as DiarizationRecord;
      expect(record).toMatchObject({ status: 'failed', speakers: 0, turns: [] });
      expect(record.error).toMatch(/diarization failed: .*no diarization models/);
      expect((await meetings.findById('nomodels'))!.diarization).toMatchObject({ status: 'failed', error: record.error });
      // A completed record is not run again; no options asking for it, no step at all.
      const done: DiarizationRecord = { status: 'completed', speakers: 1, turns: [{ start: 0, end: 1, speaker: 0 }], finishedAt: new Date() };
      const again = await diarizeStep({ ...stepBase(claim!.epoch), transcriber, existing: done });
      expect(again).toBe(done);
      expect(await diarizeStep({ ...stepBase(claim!.epoch), transcriber, options: { diarize: false } })).toBeUndefined();
    } finally {
      await transcriber.release();
    }
  }, 120_000);
});

function stepBase(epoch: number) {
  return {
    meetingId: 'nomodels',
    epoch,
    audioUri: '/unused',
    options: { diarize: true },
    existing: undefined,
    meetings,
    signal: new AbortController().signal,
    log: logger,
  };
}
