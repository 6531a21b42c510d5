/**
 * Speech detection with pyannote segmentation-3.0: the model scores 10-s
 * windows slid over the audio; each frame's speech probability (one minus
 * the powerset's silence class) is averaged over the windows that cover it,
 * Hamming-weighted so that window edges count less, then thresholded into
 * speech regions.
 */
import ort from 'onnxruntime-node';
import type { PcmSource } from '../audio/decode.js';
import type { SegmentationTiming } from './models.js';

const SAMPLE_RATE = 16_000;
const CLASSES = 7;

export interface SpeechOptions {
  /** Seconds between window starts (half a window: every frame is seen twice). @defaultValue 5 */
  step?: number;
  /** Windows per ONNX run. @defaultValue 8 */
  batch?: number;
  /** Speech starts above this probability. @defaultValue 0.5 */
  onset?: number;
  /** Speech ends below this probability. @defaultValue 0.5 */
  offset?: number;
  /** Pauses shorter than this (s) are bridged. @defaultValue 0.1 */
  minPause?: number;
  /** Speech shorter than this (s) is dropped. @defaultValue 0.25 */
  minSpeech?: number;
  signal?: AbortSignal;
}

export interface SpeechRegion {
  start: number;
  end: number;
}

/** Window start samples covering `sampleCount`: regular steps, plus one aligned to the end when they fall short. */
export function windowStarts(sampleCount: number, windowSamples: number, stepSamples: number): number[] {
  if (sampleCount <= windowSamples) return [0];
  const starts: number[] = [];
  for (let s = 0; s + windowSamples <= sampleCount; s += stepSamples) starts.push(s);
  const last = sampleCount - windowSamples;
  if (starts[starts.length - 1]! < last) starts.push(last);
  return starts;
}

/** Per-frame speech probability over the whole audio, frames `timing.frameStep` apart. */
export async function speechProbabilities(
  session: ort.InferenceSession,
  timing: SegmentationTiming,
  pcm: PcmSource,
  options: SpeechOptions = {},
): Promise<Float32Array> {
  const windowSamples = Math.round(timing.chunkDuration * SAMPLE_RATE);
  const stepSamples = Math.round((options.step ?? 5) * SAMPLE_RATE);
  const batch = options.batch ?? 8;
  const starts = windowStarts(pcm.sampleCount, windowSamples, stepSamples);
  const totalFrames = Math.max(1, Math.floor(pcm.durationSec / timing.frameStep) + 1);
  const sum = new Float64Array(totalFrames);
  const weight = new Float64Array(totalFrames);
  let hamming: Float64Array | undefined;
  for (let b = 0; b < starts.length; b += batch) {
    options.signal?.throwIfAborted();
    const group = starts.slice(b, b + batch);
    const input = new Float32Array(group.length * windowSamples);
    for (let i = 0; i < group.length; i++) {
      // Audio shorter than a window is zero-padded, as the model was trained on 10-s chunks.
      input.set(await pcm.read(group[i]!, group[i]! + windowSamples), i * windowSamples);
    }
    const out = await session.run({ waveforms: new ort.Tensor('float32', input, [group.length, 1, windowSamples]) });
    const logProbs = out.log_probs!;
    const frames = logProbs.dims[1]!;
    const data = logProbs.data as Float32Array;
    if (!hamming || hamming.length !== frames) {
      hamming = new Float64Array(frames);
      for (let f = 0; f < frames; f++) hamming[f] = 0.54 - 0.46 * Math.cos((2 * Math.PI * f) / (frames - 1));
    }
    for (let i = 0; i < group.length; i++) {
      const offset = Math.round(group[i]! / SAMPLE_RATE / timing.frameStep);
      for (let f = 0; f < frames && offset + f < totalFrames; f++) {
        const speech = 1 - Math.exp(data[(i * frames + f) * CLASSES]!);
        sum[offset + f] = sum[offset + f]! + speech * hamming[f]!;
        weight[offset + f] = weight[offset + f]! + hamming[f]!;
      }
    }
  }
  const probs = new Float32Array(totalFrames);
  for (let f = 0; f < totalFrames; f++) probs[f] = weight[f]! > 0 ? sum[f]! / weight[f]! : 0;
  return probs;
}

/** Hysteresis thresholding of frame probabilities into speech regions (seconds). Pure. */
export function speechRegions(
  probs: Float32Array,
  timing: SegmentationTiming,
  durationSec: number,
  options: SpeechOptions = {},
): SpeechRegion[] {
  const onset = options.onset ?? 0.5;
  const offset = options.offset ?? 0.5;
  const minPause = options.minPause ?? 0.1;
  const minSpeech = options.minSpeech ?? 0.25;
  const time = (f: number) => Math.min(durationSec, timing.frameStart + 0.5 * timing.frameDuration + f * timing.frameStep);
  const raw: SpeechRegion[] = [];
  let active = false;
  let start = 0;
  for (let f = 0; f < probs.length; f++) {
    if (active && probs[f]! < offset) {
      raw.push({ start, end: time(f) });
      active = false;
    } else if (!active && probs[f]! > onset) {
      start = f === 0 ? 0 : time(f);
      active = true;
    }
  }
  if (active) raw.push({ start, end: durationSec });
  const merged: SpeechRegion[] = [];
  for (const region of raw) {
    const last = merged[merged.length - 1];
    if (last && region.start - last.end <= minPause) last.end = region.end;
    else merged.push({ ...region });
  }
  return merged.filter((r) => r.end - r.start >= minSpeech);
}
