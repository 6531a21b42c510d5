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
  /**
   * Pack speech separated by longer pauses into one chunk as pieces, joined
   * without the silence between them (as faster-whisper's VAD does), up to
   * `maxChunkSec` of speech. Far fewer windows for the encoder, and no long
   * silence inside a window, after which Whisper tends to stop transcribing.
   * `false` gives one chunk per stretch of speech. @defaultValue true
   */
  packSpeech?: boolean;
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

/** The stretches of audio a chunk decodes, in seconds: its pieces, or [start, end]. */
export function chunkStretches(chunk: AudioChunk): { start: number; end: number }[] {
  return chunk.pieces && chunk.pieces.length > 0 ? chunk.pieces : [{ start: chunk.start, end: chunk.end }];
}

/**
 * Silence put between the pieces of a packed window: a pause like a sentence
 * break, so Whisper closes a segment there and each piece's speech starts its
 * own, while the long silences of the recording (which make Whisper stop
 * early or hallucinate) stay out. Measured on the long-form fixture with
 * base: 0 s 12.3 % WER, 1.5 s 11.8 %, 2 s 11.6 % with 78/79 onsets found,
 * 2.5 s loses onsets with tiny.
 */
export const JOIN_SILENCE_SEC = 2;

/** Sample ranges [start, end) of a chunk's stretches in 16 kHz audio, decoded one after another as one window. */
export function chunkSampleRanges(chunk: AudioChunk): [number, number][] {
  return chunkStretches(chunk).map((p) => [toSamples(p.start), toSamples(p.end)]);
}

/** Seconds of audio the chunk decodes (its pieces, without the silence between them). */
export function chunkAudioSec(chunk: AudioChunk): number {
  return chunkStretches(chunk).reduce((sum, p) => sum + (toSamples(p.end) - toSamples(p.start)), 0) / SAMPLE_RATE;
}

interface WindowSpan {
  /** Window time of the piece's first sample, seconds. */
  from: number;
  to: number;
  piece: { start: number; end: number };
}

/** Where each stretch of a chunk sits in its window: one after another, {@link JOIN_SILENCE_SEC} apart. */
function windowSpans(chunk: AudioChunk): WindowSpan[] {
  let offset = 0;
  return chunkStretches(chunk).map((piece) => {
    const length = (toSamples(piece.end) - toSamples(piece.start)) / SAMPLE_RATE;
    const span = { from: offset, to: offset + length, piece };
    offset += length + toSamples(JOIN_SILENCE_SEC) / SAMPLE_RATE;
    return span;
  });
}

/** Length of the chunk's window in seconds: its pieces and the silences between them. */
export function chunkWindowSec(chunk: AudioChunk): number {
  return windowSpans(chunk).at(-1)!.to;
}

/** Window layout in samples: where each stretch's samples go; the rest of the window is silence. */
export function chunkWindowLayout(chunk: AudioChunk): { length: number; parts: { at: number; from: number; to: number }[] } {
  const parts = windowSpans(chunk).map((s) => ({ at: toSamples(s.from), from: toSamples(s.piece.start), to: toSamples(s.piece.end) }));
  const last = parts.at(-1)!;
  return { length: last.at + last.to - last.from, parts };
}

/**
 * Maps a time within the chunk's window (seconds from its first sample) to
 * the absolute time in the audio. A time in the silence between pieces maps
 * to the start of the next piece.
 */
export function windowTimeToAudioTime(chunk: AudioChunk, t: number): number {
  const spans = windowSpans(chunk);
  const span = spans.find((s) => t < s.to) ?? spans.at(-1)!;
  return Math.min(span.piece.start + Math.max(0, t - span.from), span.piece.end);
}

/**
 * Maps a segment's window times to absolute times. An edge inside the
 * silence between pieces goes to the piece edge beside it. Whisper also
 * opens a segment where the previous one closed, which can be just before a
 * join while its words are after it (and closes one just past a join): an
 * overhang of at most `overhangSec` across a join, shorter than the part on
 * the other side, moves to the join.
 */
export function segmentToAudioTimes(chunk: AudioChunk, start: number, end: number, overhangSec = 1): { start: number; end: number } {
  const spans = windowSpans(chunk);
  let from = start;
  const to = Math.max(start, end);
  const joins = spans.slice(1).map((s, k) => ({ gapStart: spans[k].to, gapEnd: s.from, before: spans[k] }));
  const first = joins.find((j) => j.gapEnd > from && j.gapStart < to);
  if (first && (from >= first.gapStart || (first.gapStart - from <= overhangSec && to - first.gapEnd > first.gapStart - from))) {
    from = first.gapEnd;
  }
  const mappedStart = windowTimeToAudioTime(chunk, from);
  const last = [...joins].reverse().find((j) => j.gapStart < to && j.gapEnd > from);
  if (last && (to <= last.gapEnd || (to - last.gapEnd <= overhangSec && last.gapStart - from > to - last.gapEnd))) {
    return { start: mappedStart, end: Math.max(mappedStart, last.before.piece.end) };
  }
  return { start: mappedStart, end: Math.max(mappedStart, windowTimeToAudioTime(chunk, to)) };
}

/** Groups consecutive spans (samples) into windows of at most `maxLen`, join silences included; one per window without packing. */
function packSpans(spans: readonly [number, number][], maxLen: number, pack: boolean): [number, number][][] {
  const join = toSamples(JOIN_SILENCE_SEC);
  const packs: [number, number][][] = [];
  let used = 0;
  for (const span of spans) {
    const last = packs.at(-1);
    const length = span[1] - span[0];
    if (pack && last && used + join + length <= maxLen) {
      last.push(span);
      used += join + length;
    } else {
      packs.push([span]);
      used = length;
    }
  }
  return packs;
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
 * The parts of a chunk's speech that no segment covers, as windows to decode
 * again: Whisper sometimes stops early or skips an utterance in a window that
 * joins several (OpenAI's transcribe() re-decodes from the last timestamp for
 * the same reason). Segment times are absolute; each segment is widened by
 * `slackSec` on both sides, and uncovered stretches shorter than `minSec` are
 * ignored. Each result keeps the chunk's index and holds the uncovered pieces.
 */
export function uncoveredSpeech(
  chunk: AudioChunk,
  segments: readonly { start: number; end: number }[],
  { minSec = 1.5, slackSec = 0.5 }: { minSec?: number; slackSec?: number } = {},
): AudioChunk[] {
  const covered = segments.map((seg) => [toSamples(seg.start - slackSec), toSamples(seg.end + slackSec)] as const);
  const gaps: [number, number][] = [];
  for (const [from, to] of chunkSampleRanges(chunk)) {
    let open = from;
    for (const [a, b] of [...covered].sort((x, y) => x[0] - y[0])) {
      if (b <= open || a >= to) continue;
      if (a > open) gaps.push([open, a]);
      open = Math.max(open, b);
    }
    if (open < to) gaps.push([open, to]);
  }
  const windows = packSpans(
    gaps.filter(([a, b]) => b - a >= toSamples(minSec)),
    toSamples(30),
    true,
  );
  return windows.map((pieces) => {
    const window = toChunk(chunk.index, pieces[0][0], pieces.at(-1)![1]);
    if (pieces.length > 1) window.pieces = pieces.map(([a, b]) => ({ start: a / SAMPLE_RATE, end: b / SAMPLE_RATE }));
    return window;
  });
}

/**
 * Plans chunks from VAD speech regions. Regions closer than `mergeGapSec`
 * become one stretch with the pause kept; a stretch longer than the limit is
 * cut at its quietest pause (a hard cut only when VAD gave no frame
 * probabilities); silence outside regions is never decoded. With
 * `packSpeech`, consecutive stretches share a chunk as pieces while their
 * audio adds up to at most `maxChunkSec`; otherwise each stretch is a chunk.
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
  const packs = packSpans(spans, maxLen, options.packSpeech !== false);
  return {
    durationSec: input.durationSec,
    chunks: packs.map((pieces, index) => {
      const chunk = toChunk(index, pieces[0][0], pieces.at(-1)![1]);
      if (pieces.length > 1) chunk.pieces = pieces.map(([s, e]) => ({ start: s / SAMPLE_RATE, end: e / SAMPLE_RATE }));
      return chunk;
    }),
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
