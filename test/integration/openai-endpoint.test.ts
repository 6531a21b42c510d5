/**
 * The OpenAI-compatible endpoint with the official `openai` npm client
 * against the real service (API process, a worker on whisper-tiny, Redis,
 * FerretDB): text, json, verbose_json, srt, translations, the model list,
 * errors in OpenAI's shape, and a request that goes ahead of waiting meetings.
 */
import { createReadStream } from 'node:fs';
import OpenAI, { APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JFK, longformClip } from '../helpers/fixtures.js';
import { registerMeeting, startTranscription } from '../helpers/meetings.js';
import { API_KEY, type Stack, startStack } from '../helpers/stack.js';

let stack: Stack;
let client: OpenAI;
const normalise = (text: string) => text.toLowerCase().replace(/[^a-z ]/g, ' ').replace(/\s+/g, ' ').trim();

beforeAll(async () => {
  stack = await startStack({ env: { OPENAI_WAIT_SEC: '120' } });
  await stack.startApi();
  await stack.startWorker('w');
  client = new OpenAI({ apiKey: API_KEY, baseURL: `${stack.apiUrl()}/v1`, maxRetries: 0 });
}, 90_000);
afterAll(async () => {
  await stack?.dispose();
});

describe('POST /v1/audio/transcriptions (openai client)', () => {
  it('answers json with the text', async () => {
    const res = await client.audio.transcriptions.create({ file: createReadStream(JFK), model: 'whisper-1' });
    expect(normalise(res.text)).toMatch(/my fellow americans ask not what your country can do for you/);
  }, 60_000);

  it('answers verbose_json with timed segments, text and srt', async () => {
    const verbose = await client.audio.transcriptions.create({ file: createReadStream(JFK), model: 'whisper-tiny', response_format: 'verbose_json', language: 'en' });
    expect(verbose.language).toBe('en');
    expect(verbose.duration).toBeCloseTo(11, 0);
    expect(verbose.segments!.length).toBeGreaterThan(0);
    for (const s of verbose.segments!) expect(s.end).toBeGreaterThan(s.start);
    expect(verbose.segments!.map((s) => s.text).join('')).toContain('country');

    const text = await client.audio.transcriptions.create({ file: createReadStream(JFK), model: 'whisper-1', response_format: 'text' });
    expect(typeof text).toBe('string');
    expect(normalise(text as unknown as string)).toContain('ask not what your country');
    const srt = (await client.audio.transcriptions.create({ file: createReadStream(JFK), model: 'whisper-1', response_format: 'srt' })) as unknown as string;
    expect(srt).toMatch(/^1\n00:00:\d\d,\d{3} --> 00:00:\d\d,\d{3}\nAnd so my fellow/);
  }, 120_000);

  it('answers verbose_json with words for timestamp_granularities[]=word, and keeps them for the meetings API', async () => {
    const verbose = await client.audio.transcriptions.create({
      file: createReadStream(JFK),
      model: 'whisper-1',
      response_format: 'verbose_json',
      timestamp_granularities: ['word'],
      language: 'en',
    });
    const words = verbose.words!;
    expect(normalise(words.map((w) => w.word).join(' '))).toContain('ask not what your country can do for you');
    let previousEnd = 0;
    for (const w of words) {
      expect(w.word).toBe(w.word.trim());
      expect(w.start).toBeGreaterThanOrEqual(previousEnd);
      expect(w.end).toBeGreaterThanOrEqual(w.start);
      previousEnd = w.end;
    }
    // "ask not" follows the pause after "Americans" (about 2.0-3.3 s into jfk.wav).
    const not = words.find((w) => w.word === 'not')!;
    expect(not.end).toBeGreaterThan(3.3);
    expect(not.end).toBeLessThan(5);

    const request = await stack.db.collection('meetings').find({ projectId: 'openai' }).sort({ createdAt: -1 }).limit(1).next();
    const meetingId = String(request!._id).replace(/^openai\./, '');
    const vtt = await fetch(`${stack.apiUrl()}/api/projects/openai/meetings/${meetingId}/transcript?format=vtt&granularity=word`, {
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(vtt.status).toBe(200);
    const cues = (await vtt.text()).split('\n').filter((line) => line.includes('-->'));
    expect(cues).toHaveLength(words.length);
  }, 120_000);

  it('translates', async () => {
    const res = await client.audio.translations.create({ file: createReadStream(JFK), model: 'whisper-1' });
    expect(normalise(res.text)).toContain('country');
  }, 60_000);

  it('lists the served models', async () => {
    const ids = [];
    for await (const model of client.models.list()) ids.push(model.id);
    expect(ids).toEqual(['whisper-1', 'whisper-tiny']);
  });

  it('refuses bad requests in OpenAI\'s error shape, storing nothing', async () => {
    const before = await stack.db.collection('meetings').countDocuments();
    const unknownModel = await client.audio.transcriptions.create({ file: createReadStream(JFK), model: 'gpt-4o-transcribe' }).catch((e: unknown) => e);
    expect(unknownModel).toBeInstanceOf(APIError);
    expect((unknownModel as APIError).status).toBe(404);
    expect((unknownModel as APIError).code).toBe('model_not_found');
    expect((unknownModel as APIError).type).toBe('invalid_request_error');
    const words = await client.audio.transcriptions
      .create({ file: createReadStream(JFK), model: 'whisper-1', response_format: 'json', timestamp_granularities: ['word'] })
      .catch((e: unknown) => e);
    expect((words as APIError).status).toBe(400);
    expect((words as APIError).message).toMatch(/needs response_format=verbose_json/);
    const badKey = new OpenAI({ apiKey: 'wrong', baseURL: `${stack.apiUrl()}/v1`, maxRetries: 0 });
    const unauthorized = await badKey.audio.transcriptions.create({ file: createReadStream(JFK), model: 'whisper-1' }).catch((e: unknown) => e);
    expect((unauthorized as APIError).status).toBe(401);
    expect((unauthorized as APIError).type).toBe('authentication_error');
    expect(await stack.db.collection('meetings').countDocuments()).toBe(before);
  }, 60_000);

  it('goes ahead of meetings already waiting', async () => {
    // Three 60-s meetings queue up behind each other on the one worker; the request must not wait for all of them.
    for (const id of ['batch-1', 'batch-2', 'batch-3']) {
      await registerMeeting(stack, 'p', id, longformClip(60));
      await startTranscription(stack, 'p', id);
    }
    const res = await client.audio.transcriptions.create({ file: createReadStream(JFK), model: 'whisper-1' });
    expect(normalise(res.text)).toContain('country');
    const request = await stack.db.collection('meetings').find({ projectId: 'openai' }).sort({ createdAt: -1 }).limit(1).next();
    const last = await stack.db.collection('meetings').findOne({ _id: 'p.batch-3' as never });
    // The worker picked the request up before the last meeting that was queued before it.
    expect(last?.startedAt === undefined || request!.startedAt < last.startedAt).toBe(true);
  }, 180_000);
});
