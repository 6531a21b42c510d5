/**
 * Chunk plans: which stretches of the audio are decoded, as ≤ 30-s chunks.
 * Pure and deterministic: the same regions and options always give the same
 * chunks, indices and offsets, so a retried job can skip the chunks it saved.
 * All arithmetic runs on integer sample positions at 16 kHz; times in the
 * plan are `samples / 16000`.
 */
import { SAMPLE_RATE, type AudioChunk, type ChunkPlan } from './types.js';

/** A stretch of speech found by VAD, in seconds. */
export interface SpeechRegion {
  start: number;
  end: number;
}

/** Per-frame speech probabilities from VAD, used to find the quietest cut inside long speech. */
export interface FrameProbabilities {
  /** Samples per frame (512 for Silero at 16 kHz). */
  frameSamples: number;
  /** One probability per frame, frame i covering samples [i·frameSamples, (i+1)·frameSamples). */
  probs: ArrayLike<number>;
}

export interface VadPlanOptions {
  /** Longest chunk in seconds (Whisper's window). @defaultValue 30 */
  maxChunkSec?: number;
  /**
   * Speech regions closer than this (seconds) may share a chunk; a longer
   * pause always starts a new chunk, so silences are never decoded. Small on
   * purpose: on the long-form test file whisper-tiny dropped or merged
   * utterances that shared a chunk across 1-3 s pauses (63/79 onsets within
   * 1 s at 2 s), while within-sentence pauses after VAD padding stay < 0.7 s.
   * @defaultValue 0.8
   */
  mergeGapSec?: number;
  /** When long speech is split, no piece is cut shorter than this (seconds). @defaultValue 10 */
  minSplitSec?: number;
  /** Half-width of the moving average (frames) used to find the quietest pause. @defaultValue 4 */
  smoothingFrames?: number;
}

export interface FixedPlanOptions {
  /** Window length in seconds. @defaultValue 30 */
  windowSec?: number;
  /**
   * Windows whose RMS (linear, full scale 1.0) is below this are skipped as
   * silent; 0 keeps every window. @defaultValue 0
   */
  silenceRms?: number;
}

const toSamples = (sec: number) => Math.round(sec * SAMPLE_RATE);
const toChunk = (index: number, start: number, end: number): AudioChunk => ({
  index,
  start: start / SAMPLE_RATE,
  end: end / SAMPLE_RATE,
});

/** Sample range [start, end) of a chunk in 16 kHz audio. */
export function chunkSampleRange(chunk: AudioChunk): [number, number] {
  return [toSamples(chunk.start), toSamples(chunk.end)];
}

/** Sorts, clamps to [0, total] and merges overlapping regions (in samples). */
function normaliseRegions(regions: readonly SpeechRegion[], total: number): [number, number][] {
  const spans = regions
    .map((r): [number, number] => [Math.max(0, toSamples(r.start)), Math.min(total, toSamples(r.end))])
    .filter(([s, e]) => e > s)
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const merged: [number, number][] = [];
  for (const span of spans) {
    const last = merged.at(-1);
    if (last && span[0] <= last[1]) last[1] = Math.max(last[1], span[1]);
    else merged.push([span[0], span[1]]);
  }
  return merged;
}

/**
 * Where to cut speech that runs past the chunk limit: the centre of the
 * frame with the lowest smoothed speech probability between `lo` and `hi`
 * (the quietest, longest pause; ties go to the later frame so chunks stay
 * long). Without probabilities, a hard cut at `hi`.
 */
function quietestCut(lo: number, hi: number, frames: FrameProbabilities | undefined, halfWidth: number): number {
  if (!frames || frames.probs.length === 0) return hi;
  const size = frames.frameSamples;
  const first = Math.ceil(lo / size);
  const last = Math.min(Math.floor((hi - size / 2) / size), frames.probs.length - 1);
  let best = -1;
  let bestScore = Infinity;
  for (let i = first; i <= last; i++) {
    let sum = 0;
    let n = 0;
    for (let j = Math.max(0, i - halfWidth); j <= Math.min(frames.probs.length - 1, i + halfWidth); j++) {
      sum += frames.probs[j];
      n++;
    }
    const score = sum / n;
    if (score <= bestScore) {
      bestScore = score;
      best = i;
    }
  }
  return best < 0 ? hi : best * size + Math.floor(size / 2);
}

/**
 * Plans chunks from VAD speech regions: close regions are packed together up
 * to `maxChunkSec`, a pause longer than `mergeGapSec` always ends a chunk,
 * speech longer than the limit is cut at its quietest pause (a hard cut
 * only when VAD gave no frame probabilities), and silence outside regions is
 * never part of a chunk.
 */
export function planVadChunks(
  input: { durationSec: number; regions: readonly SpeechRegion[]; frames?: FrameProbabilities },
  options: VadPlanOptions = {},
): ChunkPlan {
  const maxLen = toSamples(options.maxChunkSec ?? 30);
  const mergeGap = toSamples(options.mergeGapSec ?? 0.8);
  const minSplit = Math.min(toSamples(options.minSplitSec ?? 10), maxLen);
  const halfWidth = options.smoothingFrames ?? 4;
  if (maxLen <= 0) throw new RangeError('maxChunkSec must be positive');
  const total = toSamples(input.durationSec);
  const spans: [number, number][] = [];
  let current: [number, number] | undefined;
  for (const [start, end] of normaliseRegions(input.regions, total)) {
    if (current && start - current[1] <= mergeGap && end - current[0] <= maxLen) {
      current[1] = end;
      continue;
    }
    if (current) spans.push(current);
    let from = start;
    while (end - from > maxLen) {
      const cut = quietestCut(from + minSplit, from + maxLen, input.frames, halfWidth);
      spans.push([from, cut]);
      from = cut;
    }
    current = [from, end];
  }
  if (current) spans.push(current);
  return {
    durationSec: input.durationSec,
    chunks: spans.map(([s, e], index) => toChunk(index, s, e)),
    planner: 'vad',
  };
}

/**
 * The fallback planner: consecutive fixed windows over the whole audio,
 * optionally skipping windows whose RMS says they are silent.
 *
 * @param input.windowRms - RMS of each window (same window length), when silent windows should be skipped.
 */
export function planFixedChunks(
  input: { durationSec: number; windowRms?: ArrayLike<number> },
  options: FixedPlanOptions = {},
): ChunkPlan {
  const window = toSamples(options.windowSec ?? 30);
  if (window <= 0) throw new RangeError('windowSec must be positive');
  const silenceRms = options.silenceRms ?? 0;
  const total = toSamples(input.durationSec);
  const chunks: AudioChunk[] = [];
  for (let k = 0, start = 0; start < total; k++, start += window) {
    const rms = input.windowRms?.[k];
    if (silenceRms > 0 && rms !== undefined && rms < silenceRms) continue;
    chunks.push(toChunk(chunks.length, start, Math.min(start + window, total)));
  }
  return { durationSec: input.durationSec, chunks, planner: 'fixed' };
}
