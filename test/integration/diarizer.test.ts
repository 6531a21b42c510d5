/**
 * The diarization pipeline on real audio with the committed ONNX models:
 * one speaker, several speakers with known turns (the start of the dev
 * long-form file), silence, and audio shorter than a second.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AudioDecoder, pcmFromSamples, type PcmSource } from '../../src/inference/audio/decode.js';
import { diarizationErrorRate } from '../../src/inference/diarization/der.js';
import { Diarizer } from '../../src/inference/diarization/diarizer.js';
import { AUDIO_DIR, JFK, longformClip } from '../helpers/fixtures.js';

const logger = pino({ level: 'silent' });

describe('Diarizer', () => {
  let diarizer: Diarizer;
  const decoder = new AudioDecoder({ logger });
  const opened: PcmSource[] = [];
  const decode = async (path: string) => {
    const { pcm } = await decoder.decode(path);
    opened.push(pcm);
    return pcm;
  };

  beforeAll(async () => {
    diarizer = await Diarizer.load({ logger });
  });
  afterAll(async () => {
    await diarizer?.release();
    await Promise.all(opened.map((p) => p.dispose()));
  });

  it('finds one speaker in a one-speaker file, with turns inside the audio', async () => {
    const pcm = await decode(JFK);
    const result = await diarizer.diarize(pcm);
    expect(result.speakers).toBe(1);
    expect(result.turns.length).toBeGreaterThan(0);
    for (const turn of result.turns) {
      expect(turn.speaker).toBe(0);
      expect(turn.start).toBeGreaterThanOrEqual(0);
      expect(turn.end).toBeLessThanOrEqual(pcm.durationSec + 1e-6);
    }
  });

  it('tells the speakers of the first 60 s of the long-form file apart', async () => {
    const pcm = await decode(longformClip(60));
    const file = JSON.parse(readFileSync(join(AUDIO_DIR, 'longform', 'dev_longform.segments.json'), 'utf8')) as {
      segments: { kind: string; clip?: string; start_s: number; end_s: number }[];
    };
    const reference = file.segments
      .filter((s) => s.kind === 'speech' && s.start_s < 60)
      .map((s) => ({ start: s.start_s, end: Math.min(s.end_s, 60), speaker: s.clip!.startsWith('espeak') ? 'espeak' : s.clip!.split('-')[0]! }));
    const trueCount = new Set(reference.map((r) => r.speaker)).size;
    const embedded = await diarizer.embed(pcm);
    const estimated = diarizer.cluster(embedded);
    expect(Math.abs(estimated.speakers - trueCount)).toBeLessThanOrEqual(1);
    // What remains is mostly pauses inside the clips (the reference is clip bounds).
    expect(diarizationErrorRate(reference, estimated.turns).der).toBeLessThan(0.15);
    const given = diarizer.cluster(embedded, { numSpeakers: trueCount });
    expect(given.speakers).toBe(trueCount);
    expect(diarizationErrorRate(reference, given.turns).der).toBeLessThan(0.15);
    expect(diarizer.cluster(embedded, { maxSpeakers: 2 }).speakers).toBeLessThanOrEqual(2);
  });

  it('finds no speaker in silence', async () => {
    const result = await diarizer.diarize(pcmFromSamples(new Float32Array(16000 * 12)));
    expect(result).toMatchObject({ speakers: 0, turns: [], windows: 0 });
  });

  it('handles audio shorter than a second', async () => {
    const pcm = await decode(JFK);
    const short = pcmFromSamples(await pcm.read(16000, 16000 + 12000));
    const result = await diarizer.diarize(short);
    expect(result.speakers).toBeLessThanOrEqual(1);
    for (const turn of result.turns) expect(turn.end).toBeLessThanOrEqual(0.75 + 1e-6);
    const empty = await diarizer.diarize(pcmFromSamples(new Float32Array(0)));
    expect(empty.speakers).toBe(0);
  });
});
