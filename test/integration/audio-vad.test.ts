import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/logger.js';
import { AudioDecoder, type PcmSource } from '../../src/inference/audio/decode.js';
import { SileroVad, windowRms } from '../../src/inference/audio/vad.js';
import { chunkAudioSec, chunkStretches, planFixedChunks, planVadChunks } from '../../src/inference/chunking.js';
import type { ChunkPlan } from '../../src/inference/types.js';
import { PREPARED_ROOT } from '../helpers/models.js';
import { JFK, LONGFORM, LONGFORM_NOISE, LONGFORM_SILENCE, type LongformSegment, longformSpeech } from '../helpers/fixtures.js';

const SILENCE = LONGFORM_SILENCE;
const NOISE = LONGFORM_NOISE;

const overlap = (a: { start: number; end: number }, b: { start: number; end: number }) =>
  Math.max(0, Math.min(a.end, b.end) - Math.max(a.start, b.start));

describe('Silero VAD and the chunk plan on the long-form file', () => {
  const logger = createLogger({ level: 'warn' });
  const decoder = new AudioDecoder({ logger });
  let vad: SileroVad;
  let pcm: PcmSource;
  let clips: LongformSegment[];

  beforeAll(async () => {
    vad = await SileroVad.load({ logger });
    pcm = (await decoder.decode(LONGFORM)).pcm;
    clips = longformSpeech();
  });
  afterAll(async () => {
    await pcm?.dispose();
    await vad?.release();
  });

  let plan: ChunkPlan;

  it('plans the same chunks twice (deterministic VAD and planner)', async () => {
    const first = await vad.detect(pcm);
    const second = await vad.detect(pcm);
    expect(second.frames.probs).toEqual(first.frames.probs);
    plan = planVadChunks({ durationSec: pcm.durationSec, regions: first.regions, frames: first.frames });
    const again = planVadChunks({ durationSec: pcm.durationSec, regions: second.regions, frames: second.frames });
    expect(again).toEqual(plan);
    // 9.4 min of speech packed into 30-s windows: about 20 of them, not one per clip.
    expect(plan.chunks.length).toBeGreaterThan(15);
    expect(plan.chunks.length).toBeLessThan(30);
    plan.chunks.forEach((c, i) => {
      expect(c.index).toBe(i);
      expect(chunkAudioSec(c)).toBeLessThanOrEqual(30);
    });
  });

  it('keeps the digital silence and the noise stretch out of every decoded stretch', () => {
    for (const chunk of plan.chunks) {
      for (const stretch of chunkStretches(chunk)) {
        expect(overlap(stretch, SILENCE), `chunk ${chunk.index}`).toBe(0);
        expect(overlap(stretch, NOISE), `chunk ${chunk.index}`).toBe(0);
      }
    }
  });

  it('covers the speech: the loud frames of every clip lie inside chunks, and each clip onset is inside a chunk', async () => {
    expect(clips).toHaveLength(79);
    const decoded = plan.chunks.flatMap(chunkStretches);
    let loud = 0;
    let covered = 0;
    for (const clip of clips) {
      // 20-ms frames above -34 dBFS RMS: the speech itself, not the room tone around it.
      const samples = await pcm.read(clip.start_sample, clip.end_sample);
      let clipLoud = 0;
      let clipCovered = 0;
      for (let f = 0; f + 320 <= samples.length; f += 320) {
        let energy = 0;
        for (let k = f; k < f + 320; k++) energy += samples[k] * samples[k];
        if (Math.sqrt(energy / 320) < 0.02) continue;
        clipLoud++;
        const t = (clip.start_sample + f + 160) / 16_000;
        if (decoded.some((c) => c.start <= t && t < c.end)) clipCovered++;
      }
      expect(clipCovered / clipLoud, `clip at ${clip.start_s}`).toBeGreaterThanOrEqual(0.9);
      loud += clipLoud;
      covered += clipCovered;
      const onset = clip.start_s + 0.5;
      expect(decoded.some((c) => c.start <= onset && onset < c.end), `onset ${clip.start_s}`).toBe(true);
    }
    expect(covered / loud).toBeGreaterThanOrEqual(0.98);
    const planned = plan.chunks.reduce((sum, c) => sum + chunkAudioSec(c), 0);
    const speech = clips.reduce((sum, c) => sum + (c.end_s - c.start_s), 0);
    // Silence between clips is skipped.
    expect(planned).toBeLessThan(speech);
  });

  it('fixed planner: 30-s windows, skipping all-silent ones by energy', async () => {
    const rms = await windowRms(pcm, 30 * 16_000);
    expect(rms).toHaveLength(24);
    const fixed = planFixedChunks({ durationSec: pcm.durationSec, windowRms: rms }, { silenceRms: 1e-4 });
    expect(fixed.planner).toBe('fixed');
    expect(fixed.chunks).toHaveLength(24); // no 30-s window of this file is entirely silent
    expect(fixed.chunks.at(-1)!.end).toBeCloseTo(pcm.durationSec, 6);
    expect(planFixedChunks({ durationSec: pcm.durationSec, windowRms: rms }, { silenceRms: 1e-4 })).toEqual(fixed);
  });

  it('gives the same frame probabilities with the prepared (Scan) model as frame by frame', async () => {
    const scan = await SileroVad.load({ logger, preparedRoot: PREPARED_ROOT });
    try {
      expect(scan.scan, `no prepared VAD under ${PREPARED_ROOT}: run npm run prepare-models`).toBe(true);
      expect(vad.scan).toBe(false);
      const jfk = (await decoder.decode(JFK)).pcm;
      try {
        const [a, b] = [await vad.frameProbabilities(jfk), await scan.frameProbabilities(jfk)];
        expect(b).toHaveLength(a.length);
        let maxDiff = 0;
        for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
        expect(maxDiff).toBeLessThan(1e-5);
      } finally {
        await jfk.dispose();
      }
    } finally {
      await scan.release();
    }
  });

  it('finds the speech in jfk.wav', async () => {
    const jfk = (await decoder.decode(JFK)).pcm;
    try {
      const { regions } = await vad.detect(jfk);
      expect(regions.length).toBeGreaterThan(0);
      expect(regions[0].start).toBeLessThan(1);
      expect(regions.at(-1)!.end).toBeGreaterThan(10);
    } finally {
      await jfk.dispose();
    }
  });
});
