/**
 * Full long-form run with whisper-base at the default settings (about 1 min
 * on 2 cores): segment onsets against the file's exact clip boundaries, and
 * no text from the silence and noise stretches. Base, the model recommended
 * for CPUs: with the speech of several pauses packed into one window, tiny
 * runs segments on across the joins more often (69/79 onsets against base's
 * 78/79; 79/79 for tiny without packing, at 5 points more WER for base).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/logger.js';
import { chunkStretches } from '../../src/inference/chunking.js';
import { createTranscriber } from '../../src/inference/transcriber.js';
import type { ChunkPlan, ChunkResult, Segment, Transcriber } from '../../src/inference/types.js';
import { LONGFORM, LONGFORM_NOISE, LONGFORM_SILENCE, type LongformSegment, longformSpeech } from '../helpers/fixtures.js';

const FILE = LONGFORM;
const SILENCE = LONGFORM_SILENCE;
const NOISE = LONGFORM_NOISE;

describe('long-form transcription (whisper-base, VAD plan)', () => {
  let transcriber: Transcriber;
  let clips: LongformSegment[];
  let plan: ChunkPlan;
  const results: ChunkResult[] = [];

  beforeAll(async () => {
    transcriber = await createTranscriber({ model: 'base', executionProvider: 'cpu', logger: createLogger({ level: 'warn' }) });
    clips = longformSpeech();
  }, 120_000);
  afterAll(async () => {
    await transcriber?.release();
  });

  it('plans deterministically and transcribes every chunk in order', async () => {
    plan = await transcriber.plan(FILE);
    expect(await transcriber.plan(FILE)).toEqual(plan);
    for await (const result of transcriber.transcribe(FILE, { plan, language: 'en' })) results.push(result);
    expect(results.map((r) => r.chunk.index)).toEqual(plan.chunks.map((c) => c.index));
  }, 600_000);

  it('gives >= 95% of the 79 clips a segment starting within 1 s of the clip start', () => {
    const segments: Segment[] = results.flatMap((r) => r.segments);
    const hits = clips.filter((clip) => segments.some((s) => Math.abs(s.start - clip.start_s) <= 1));
    console.log(`long-form onsets: ${hits.length}/${clips.length} clips within 1 s; ${segments.length} segments in ${plan.chunks.length} chunks`);
    expect(clips).toHaveLength(79);
    expect(hits.length / clips.length).toBeGreaterThanOrEqual(0.95);
  });

  it('produces no text inside the 20 s of silence or the 20 s of noise', () => {
    const inside = (s: Segment, span: { start: number; end: number }) => s.start < span.end - 0.5 && s.end > span.start + 0.5;
    const segments = results.flatMap((r) => r.segments);
    expect(segments.filter((s) => inside(s, SILENCE))).toEqual([]);
    expect(segments.filter((s) => inside(s, NOISE))).toEqual([]);
    // Packed chunks may span them, but none of their pieces of audio reaches in.
    for (const stretch of plan.chunks.flatMap(chunkStretches)) {
      expect(stretch.end <= SILENCE.start || stretch.start >= SILENCE.end).toBe(true);
      expect(stretch.end <= NOISE.start || stretch.start >= NOISE.end).toBe(true);
    }
  });
});
