import { describe, expect, it } from 'vitest';
import { chunkSampleRange, planFixedChunks, planVadChunks, type SpeechRegion } from '../../src/inference/chunking.js';
import { speechRegionsFromProbs, VAD_FRAME_SAMPLES } from '../../src/inference/audio/vad.js';
import type { ChunkPlan } from '../../src/inference/types.js';

const FRAME_SEC = VAD_FRAME_SAMPLES / 16_000;

function expectWellFormed(plan: ChunkPlan, maxSec = 30): void {
  plan.chunks.forEach((chunk, i) => {
    expect(chunk.index).toBe(i);
    expect(chunk.end).toBeGreaterThan(chunk.start);
    expect(chunk.end - chunk.start).toBeLessThanOrEqual(maxSec);
    expect(chunk.start).toBeGreaterThanOrEqual(0);
    expect(chunk.end).toBeLessThanOrEqual(plan.durationSec);
    if (i > 0) expect(chunk.start).toBeGreaterThanOrEqual(plan.chunks[i - 1].end);
  });
}

/** Frame probabilities: 0.9 inside the given spans, 0.05 elsewhere, plus optional dips. */
function probsFor(durationSec: number, speech: SpeechRegion[], dips: { at: number; width: number; value: number }[] = []) {
  const probs = new Float32Array(Math.ceil((durationSec * 16_000) / VAD_FRAME_SAMPLES));
  for (let i = 0; i < probs.length; i++) {
    const t = (i + 0.5) * FRAME_SEC;
    probs[i] = speech.some((r) => t >= r.start && t < r.end) ? 0.9 : 0.05;
    for (const dip of dips) if (Math.abs(t - dip.at) <= dip.width / 2) probs[i] = dip.value;
  }
  return probs;
}

describe('planVadChunks', () => {
  it('packs close regions into one chunk and keeps silence outside chunks', () => {
    const regions = [
      { start: 1, end: 5 },
      { start: 6, end: 12 },
      { start: 13.5, end: 20 },
      // 20 s of silence, then more speech
      { start: 40, end: 48 },
    ];
    const plan = planVadChunks({ durationSec: 60, regions }, { mergeGapSec: 2 });
    expectWellFormed(plan);
    expect(plan.planner).toBe('vad');
    expect(plan.chunks).toEqual([
      { index: 0, start: 1, end: 20 },
      { index: 1, start: 40, end: 48 },
    ]);
  });

  it('starts a new chunk when packing would pass 30 s, cutting at the pause between regions', () => {
    const regions = [
      { start: 0, end: 12 },
      { start: 13, end: 25 },
      { start: 26, end: 38 },
    ];
    const plan = planVadChunks({ durationSec: 40, regions }, { mergeGapSec: 2 });
    expectWellFormed(plan);
    expect(plan.chunks.map((c) => [c.start, c.end])).toEqual([
      [0, 25],
      [26, 38],
    ]);
  });

  it('never merges across a pause longer than mergeGapSec (default 0.8 s)', () => {
    const close = [{ start: 0, end: 3 }, { start: 3.7, end: 6 }, { start: 7, end: 9 }];
    expect(planVadChunks({ durationSec: 10, regions: close }).chunks.map((c) => [c.start, c.end])).toEqual([
      [0, 6],
      [7, 9],
    ]);
    const plan = planVadChunks({ durationSec: 20, regions: [{ start: 0, end: 3 }, { start: 6, end: 9 }] }, { mergeGapSec: 2 });
    expect(plan.chunks).toHaveLength(2);
    const merged = planVadChunks({ durationSec: 20, regions: [{ start: 0, end: 3 }, { start: 6, end: 9 }] }, { mergeGapSec: 3 });
    expect(merged.chunks.map((c) => [c.start, c.end])).toEqual([[0, 9]]);
  });

  it('splits long speech at its quietest pause', () => {
    const speech = [{ start: 0, end: 70 }];
    // A short dip at 14 s and a deeper, longer one at 23 s: the cut goes to 23 s.
    const probs = probsFor(70, speech, [
      { at: 14, width: 0.2, value: 0.3 },
      { at: 23, width: 0.6, value: 0.02 },
      { at: 47, width: 0.6, value: 0.02 },
    ]);
    const plan = planVadChunks({ durationSec: 70, regions: speech, frames: { frameSamples: VAD_FRAME_SAMPLES, probs } });
    expectWellFormed(plan);
    expect(plan.chunks).toHaveLength(3);
    expect(plan.chunks[0].end).toBeCloseTo(23, 0);
    expect(plan.chunks[1].end).toBeCloseTo(47, 0);
    expect(plan.chunks[2].end).toBe(70);
    expect(plan.chunks[1].start).toBe(plan.chunks[0].end);
  });

  it('hard-splits long speech at the limit when no frame probabilities are given', () => {
    const plan = planVadChunks({ durationSec: 75, regions: [{ start: 0, end: 75 }] });
    expectWellFormed(plan);
    expect(plan.chunks.map((c) => [c.start, c.end])).toEqual([
      [0, 30],
      [30, 60],
      [60, 75],
    ]);
  });

  it('respects minSplitSec: a pause right after the chunk start is not used', () => {
    const speech = [{ start: 0, end: 40 }];
    const probs = probsFor(40, speech, [
      { at: 2, width: 1, value: 0 },
      { at: 18, width: 0.3, value: 0.2 },
    ]);
    const plan = planVadChunks(
      { durationSec: 40, regions: speech, frames: { frameSamples: VAD_FRAME_SAMPLES, probs } },
      { minSplitSec: 10 },
    );
    expect(plan.chunks[0].end).toBeCloseTo(18, 0);
  });

  it('sorts, clamps and merges overlapping regions', () => {
    const plan = planVadChunks({
      durationSec: 10,
      regions: [
        { start: 8, end: 12 },
        { start: -1, end: 2 },
        { start: 1.5, end: 3 },
      ],
    });
    expect(plan.chunks.map((c) => [c.start, c.end])).toEqual([
      [0, 3],
      [8, 10],
    ]);
  });

  it('returns no chunks for no speech', () => {
    expect(planVadChunks({ durationSec: 100, regions: [] }).chunks).toEqual([]);
  });

  it('is deterministic: the same input gives the same plan, with offsets on sample boundaries', () => {
    const regions = Array.from({ length: 200 }, (_, i) => ({ start: i * 7.3 + 0.123456, end: i * 7.3 + 5.987654 }));
    const probs = probsFor(1500, regions);
    const input = { durationSec: 1500, regions, frames: { frameSamples: VAD_FRAME_SAMPLES, probs } };
    const a = planVadChunks(input);
    const b = planVadChunks(structuredClone(input));
    expect(b).toEqual(a);
    expectWellFormed(a);
    for (const chunk of a.chunks) {
      const [s, e] = chunkSampleRange(chunk);
      expect(s / 16_000).toBe(chunk.start);
      expect(e / 16_000).toBe(chunk.end);
    }
  });
});

describe('planFixedChunks', () => {
  it('covers the audio with 30-s windows, the last one shorter', () => {
    const plan = planFixedChunks({ durationSec: 75.5 });
    expect(plan.planner).toBe('fixed');
    expect(plan.chunks).toEqual([
      { index: 0, start: 0, end: 30 },
      { index: 1, start: 30, end: 60 },
      { index: 2, start: 60, end: 75.5 },
    ]);
  });

  it('skips windows quieter than silenceRms and renumbers the rest', () => {
    const plan = planFixedChunks({ durationSec: 90, windowRms: [0.1, 0, 0.05] }, { silenceRms: 1e-4 });
    expect(plan.chunks).toEqual([
      { index: 0, start: 0, end: 30 },
      { index: 1, start: 60, end: 90 },
    ]);
    expect(planFixedChunks({ durationSec: 90, windowRms: [0.1, 0, 0.05] }).chunks).toHaveLength(3);
  });
});

describe('speechRegionsFromProbs (Silero get_speech_timestamps)', () => {
  const frames = (spec: [number, number][]) => Float32Array.from(spec.flatMap(([p, n]) => Array<number>(n).fill(p)));

  it('finds a region, pads it and drops speech shorter than minSpeechMs', () => {
    // 1 s silence, 1 s speech, 1 s silence, 0.1 s blip, 1 s silence (31.25 frames per second)
    const probs = frames([[0.01, 31], [0.9, 31], [0.01, 31], [0.9, 3], [0.01, 31]]);
    const regions = speechRegionsFromProbs(probs, probs.length * VAD_FRAME_SAMPLES, { speechPadMs: 100 });
    expect(regions).toHaveLength(1);
    expect(regions[0].start).toBeCloseTo(31 * FRAME_SEC - 0.1, 3);
    expect(regions[0].end).toBeCloseTo(62 * FRAME_SEC + 0.1, 3);
  });

  it('keeps speech through pauses shorter than minSilenceMs and splits at longer ones', () => {
    const probs = frames([[0.9, 40], [0.01, 2], [0.9, 40], [0.01, 20], [0.9, 40]]);
    const regions = speechRegionsFromProbs(probs, probs.length * VAD_FRAME_SAMPLES, { minSilenceMs: 300, speechPadMs: 0 });
    expect(regions).toHaveLength(2);
    expect(regions[0].end).toBeCloseTo(82 * FRAME_SEC, 3);
    expect(regions[1].start).toBeCloseTo(102 * FRAME_SEC, 3);
    expect(regions[1].end).toBeCloseTo(142 * FRAME_SEC, 3);
  });

  it('splits the gap between close regions instead of overlapping pads', () => {
    const probs = frames([[0.9, 40], [0.01, 10], [0.9, 40]]);
    const regions = speechRegionsFromProbs(probs, probs.length * VAD_FRAME_SAMPLES, { minSilenceMs: 100, speechPadMs: 500 });
    expect(regions).toHaveLength(2);
    expect(regions[0].end).toBeCloseTo(regions[1].start, 3);
  });
});
