/**
 * The inference core's public shapes: what the worker, the API and the CLI
 * see. Times are seconds, absolute within the input audio.
 */

import type { DiarizationOutcome, DiarizeRequest } from './diarization/diarizer.js';

export const SAMPLE_RATE = 16_000;

/** One unit of work: the worker transcribes, saves, checkpoints and skips whole chunks. */
export interface AudioChunk {
  /** Position in the plan, 0-based, stable for the same audio and planner settings. */
  index: number;
  /** Absolute start in seconds. */
  start: number;
  /** Absolute end in seconds (end - start <= 30 when the chunk has no pieces). */
  end: number;
  /**
   * Stretches of speech decoded together as one window, in time order, the
   * silence between them left out (absolute seconds, at most 30 s in all).
   * Absent: the chunk is the one stretch [start, end].
   */
  pieces?: { start: number; end: number }[];
}

export interface ChunkPlan {
  /** Duration of the whole input in seconds. */
  durationSec: number;
  /** Speech chunks in time order; silence between them is not transcribed. */
  chunks: AudioChunk[];
  /** Which planner produced the plan: Silero VAD or the fixed-window fallback. */
  planner: 'vad' | 'fixed';
}

/** A word of a segment, with times as absolute as its segment's. */
export interface Word {
  /** The word's text with its leading space and the punctuation merged into it (' Hello,'). */
  word: string;
  start: number;
  end: number;
  /** Mean probability of the word's tokens under the alignment pass, 0–1. */
  probability: number;
}

export interface Segment {
  text: string;
  /** Absolute start in seconds. */
  start: number;
  /** Absolute end in seconds. */
  end: number;
  /** Mean log-probability of the segment's tokens. */
  avgLogprob: number;
  /** Probability of the no-speech token at the start of the window. */
  noSpeechProb: number;
  /** Words in time order, inside [start, end]; present when word timestamps were asked for. */
  words?: Word[];
}

export interface ChunkResult {
  chunk: AudioChunk;
  /** Segments in time order; empty when the chunk held no speech. */
  segments: Segment[];
  /** ISO 639-1 code, given or detected. */
  language: string;
  /** Which decoding temperature produced the accepted result (0 unless a fallback ran). */
  temperature: number;
  /** Tokens of the accepted decode (text and timestamps), what the next window is conditioned on. */
  tokens?: number[];
}

/** Audio as a local file path, or as 16 kHz mono float32 samples already decoded. */
export type AudioInput = string | Float32Array;

export interface TranscribeOptions {
  /** ISO 639-1 code; detected when omitted on a multilingual model. */
  language?: string;
  /** @defaultValue 'transcribe' */
  task?: 'transcribe' | 'translate';
  /**
   * Text before every window, after <|startofprev|>: a vocabulary hint
   * (names, jargon) or the spelling and punctuation to follow. @defaultValue none
   */
  prompt?: string;
  /** A plan computed earlier (a resumed job reuses its first pickup's plan). Planned here, from the same decode, when omitted. */
  plan?: ChunkPlan;
  /**
   * Called once with the plan (given or computed), before the first chunk is
   * decoded; the iteration waits for it. The worker stores a new plan here and
   * sets the attempt's time limit from the real duration.
   */
  onPlan?: (plan: ChunkPlan) => void | Promise<void>;
  /** Chunk indices already saved; they are neither decoded nor yielded. */
  skipChunks?: Iterable<number>;
  /** Aborting stops at the next chunk boundary: the iterator ends by throwing the signal's reason. */
  signal?: AbortSignal;
  /**
   * Prompt each window with the text decoded before it (OpenAI's
   * condition_on_previous_text). Windows of one batch share the text decoded
   * before the batch. @defaultValue the transcriber's setting
   */
  conditionOnPreviousText?: boolean;
  /** Time each word from the decoder's cross-attention (one extra decoder pass per window). @defaultValue false */
  wordTimestamps?: boolean;
}

/** What the worker and CLI hold: a loaded model that turns audio into per-chunk results, off the caller's thread. */
export interface Transcriber {
  readonly model: ModelInfo;
  /** Decode and plan chunks for the audio without transcribing it; aborting `signal` stops decoding and planning. */
  plan(audio: AudioInput, options?: { signal?: AbortSignal }): Promise<ChunkPlan>;
  /** Yields each chunk's result as soon as it is ready, in chunk order. */
  transcribe(audio: AudioInput, options?: TranscribeOptions): AsyncIterable<ChunkResult>;
  /** Speaker turns of the audio (pyannote segmentation + CAM++ embeddings + clustering); absent where not supported. */
  diarize?(audio: AudioInput, options?: DiarizeRequest): Promise<DiarizationOutcome>;
  /** Frees the ONNX sessions (and GPU memory) and stops the inference thread. Idempotent. */
  release(): Promise<void>;
}

export interface ModelInfo {
  /** e.g. 'whisper-tiny' */
  name: string;
  /** Absolute path of the model folder. */
  dir: string;
  /** 'fp32' | 'fp16' | 'q8' */
  variant: string;
  /** The execution provider actually in use: 'cuda', 'webgpu' or 'cpu'. */
  executionProvider: string;
  multilingual: boolean;
  /** Whether the prepared graphs (tools/model-prep) are in use rather than the folder's own files. */
  prepared: boolean;
  /** Where greedy decoding runs: inside ONNX Runtime ('graph') or token by token ('steps'). */
  decodeLoop: 'graph' | 'steps';
}
