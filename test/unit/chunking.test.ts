import { describe, expect, it } from 'vitest';
import {
  chunkAudioSec,
  chunkWindowSec,
  JOIN_SILENCE_SEC,
  chunkSampleRanges,
  planFixedChunks,
  planVadChunks,
  segmentToAudioTimes,
  uncoveredSpeech,
  windowTimeToAudioTime,
  type SpeechRegion,
} from '../../src/inference/chunking.js';
import { speechRegionsFromProbs, VAD_FRAME_SAMPLES } from '../../src/inference/audio/vad.js';
import type { ChunkPlan } from '../../src/inference/types.js';

const FRAME_SEC = VAD_FRAME_SAMPLES / 16_000;

function expectWellFormed(plan: ChunkPlan, maxSec = 30): void {
  plan.chunks.forEach((chunk, i) => {
    expect(chunk.index).toBe(i);
    expect(chunk.end).toBeGreaterThan(chunk.start);
    expect(chunkAudioSec(chunk)).toBeLessThanOrEqual(maxSec);
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

describe('planVadChunks without packing (one chunk per stretch of speech)', () => {
  it('merges close regions into one chunk and keeps silence outside chunks', () => {
    const regions = [
      { start: 1, end: 5 },
      { start: 6, end: 12 },
      { start: 13.5, end: 20 },
      // 20 s of silence, then more speech
      { start: 40, end: 48 },
    ];
    const plan = planVadChunks({ durationSec: 60, regions }, { mergeGapSec: 2, packSpeech: false });
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
    const plan = planVadChunks({ durationSec: 40, regions }, { mergeGapSec: 2, packSpeech: false });
    expectWellFormed(plan);
    expect(plan.chunks.map((c) => [c.start, c.end])).toEqual([
      [0, 25],
      [26, 38],
    ]);
  });

  it('never merges across a pause longer than mergeGapSec (default 0.8 s)', () => {
    const close = [{ start: 0, end: 3 }, { start: 3.7, end: 6 }, { start: 7, end: 9 }];
    expect(planVadChunks({ durationSec: 10, regions: close }, { packSpeech: false }).chunks.map((c) => [c.start, c.end])).toEqual([
      [0, 6],
      [7, 9],
    ]);
    const plan = planVadChunks({ durationSec: 20, regions: [{ start: 0, end: 3 }, { start: 6, end: 9 }] }, { mergeGapSec: 2, packSpeech: false });
    expect(plan.chunks).toHaveLength(2);
    const merged = planVadChunks({ durationSec: 20, regions: [{ start: 0, end: 3 }, { start: 6, end: 9 }] }, { mergeGapSec: 3, packSpeech: false });
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
    const plan = planVadChunks({ durationSec: 70, regions: speech, frames: { frameSamples: VAD_FRAME_SAMPLES, probs } }, { packSpeech: false });
    expectWellFormed(plan);
    expect(plan.chunks).toHaveLength(3);
    expect(plan.chunks[0].end).toBeCloseTo(23, 0);
    expect(plan.chunks[1].end).toBeCloseTo(47, 0);
    expect(plan.chunks[2].end).toBe(70);
    expect(plan.chunks[1].start).toBe(plan.chunks[0].end);
  });

  it('hard-splits long speech at the limit when no frame probabilities are given', () => {
    const plan = planVadChunks({ durationSec: 75, regions: [{ start: 0, end: 75 }] }, { packSpeech: false });
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
      { minSplitSec: 10, packSpeech: false },
    );
    expect(plan.chunks[0].end).toBeCloseTo(18, 0);
  });

  it('sorts, clamps and merges overlapping regions', () => {
    const plan = planVadChunks(
      {
      durationSec: 10,
      regions: [
        { start: 8, end: 12 },
        { start: -1, end: 2 },
        { start: 1.5, end: 3 },
        ],
      },
      { packSpeech: false },
    );
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
      const ranges = chunkSampleRanges(chunk);
      expect(ranges[0][0] / 16_000).toBe(chunk.start);
      expect(ranges.at(-1)![1] / 16_000).toBe(chunk.end);
      for (const [from, to] of ranges) expect(Number.isInteger(from) && Number.isInteger(to)).toBe(true);
    }
  });
});

describe('planVadChunks packing speech (the default)', () => {
  const regions = [
    { start: 1, end: 5 },
    { start: 5.5, end: 12 },
    { start: 20, end: 28 },
    // 30 s of silence, then more speech
    { start: 58, end: 65 },
    { start: 71, end: 80 },
  ];

  it('joins stretches separated by long pauses as pieces of one ≤ 30-s window, leaving the silence out', () => {
    expect(JOIN_SILENCE_SEC).toBe(2);
    const plan = planVadChunks({ durationSec: 90, regions });
    expectWellFormed(plan);
    // 11 + 2 + 8 + 2 + 7 = 30 s of window; the last stretch would make it 41.
    expect(plan.chunks).toEqual([
      { index: 0, start: 1, end: 65, pieces: [{ start: 1, end: 12 }, { start: 20, end: 28 }, { start: 58, end: 65 }] },
      { index: 1, start: 71, end: 80 },
    ]);
    expect(chunkAudioSec(plan.chunks[0])).toBe(26);
    expect(chunkWindowSec(plan.chunks[0])).toBe(30);
    expect(chunkSampleRanges(plan.chunks[0])).toEqual([
      [16_000, 192_000],
      [320_000, 448_000],
      [928_000, 1_040_000],
    ]);
  });

  it('maps window times back through the pieces', () => {
    const [chunk] = planVadChunks({ durationSec: 90, regions }).chunks;
    expect(windowTimeToAudioTime(chunk, 0)).toBe(1);
    expect(windowTimeToAudioTime(chunk, 10.5)).toBe(11.5);
    // In the silence of a join: the piece that starts after it.
    expect(windowTimeToAudioTime(chunk, 11)).toBe(20);
    expect(windowTimeToAudioTime(chunk, 12)).toBe(20);
    expect(windowTimeToAudioTime(chunk, 13)).toBe(20);
    expect(windowTimeToAudioTime(chunk, 23 + 4)).toBe(62);
    expect(windowTimeToAudioTime(chunk, 99)).toBe(65);
  });

  it('moves a segment edge that overhangs a join by less than a second to the join', () => {
    const [chunk] = planVadChunks({ durationSec: 90, regions }).chunks;
    // Opens 0.4 s before the join at window 11–13 s (audio 12 → 20), its words after it.
    expect(segmentToAudioTimes(chunk, 10.6, 17)).toEqual({ start: 20, end: 24 });
    // Closes in the join's silence, or 0.3 s after the join at window 21–23 s (audio 28 → 58).
    expect(segmentToAudioTimes(chunk, 16, 22)).toEqual({ start: 23, end: 28 });
    expect(segmentToAudioTimes(chunk, 16, 23.3)).toEqual({ start: 23, end: 28 });
    // Well inside a piece: plain mapping.
    expect(segmentToAudioTimes(chunk, 2, 6)).toEqual({ start: 3, end: 7 });
    // A long overhang is real speech on both sides.
    expect(segmentToAudioTimes(chunk, 8, 16)).toEqual({ start: 9, end: 23 });
  });
});

describe('uncoveredSpeech', () => {
  const chunk = { index: 3, start: 10, end: 60, pieces: [{ start: 10, end: 20 }, { start: 40, end: 60 }] };

  it('returns the stretches of speech no segment covers, as windows of the same chunk', () => {
    const windows = uncoveredSpeech(chunk, [
      { start: 10.2, end: 19.8 },
      { start: 40, end: 45 },
      { start: 52, end: 55 },
    ]);
    expect(windows).toEqual([{ index: 3, start: 45.5, end: 60, pieces: [{ start: 45.5, end: 51.5 }, { start: 55.5, end: 60 }] }]);
  });

  it('ignores gaps shorter than minSec and returns nothing when all is covered', () => {
    expect(uncoveredSpeech(chunk, [{ start: 10, end: 20 }, { start: 40, end: 59 }])).toEqual([]);
    expect(uncoveredSpeech({ index: 0, start: 0, end: 8 }, [])).toEqual([{ index: 0, start: 0, end: 8 }]);
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
