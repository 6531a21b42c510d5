/**
 * Whisper's quality checks on a decoded window: compression ratio, the
 * temperature-fallback decision and the no-speech skip (OpenAI whisper
 * `transcribe()` / `decode_with_fallback`).
 */
import { deflateSync } from 'node:zlib';

export interface FallbackThresholds {
  /** Retry at the next temperature when the text's gzip compression ratio is above this. @defaultValue 2.4 */
  compressionRatioThreshold: number;
  /** Retry when the average log-probability is below this. @defaultValue -1 */
  logprobThreshold: number;
  /** With avg logprob below logprobThreshold, a window whose no-speech probability is above this is silence. @defaultValue 0.6 */
  noSpeechThreshold: number;
}

export const DEFAULT_THRESHOLDS: FallbackThresholds = {
  compressionRatioThreshold: 2.4,
  logprobThreshold: -1,
  noSpeechThreshold: 0.6,
};

/** Whisper's default temperature schedule. */
export const DEFAULT_TEMPERATURES: readonly number[] = [0, 0.2, 0.4, 0.6, 0.8, 1.0];

/** UTF-8 bytes of `text` divided by their zlib-compressed size (Python `zlib.compress`, level 6). */
export function compressionRatio(text: string): number {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length === 0) return 0;
  return bytes.length / deflateSync(bytes, { level: 6 }).length;
}

export interface DecodeQuality {
  compressionRatio: number;
  avgLogprob: number;
  noSpeechProb: number;
  /** The repetition guard cut the decode. */
  looped: boolean;
}

/** Whether to decode again at the next temperature (OpenAI's `needs_fallback`, plus the loop guard). */
export function needsFallback(q: DecodeQuality, t: FallbackThresholds = DEFAULT_THRESHOLDS): boolean {
  if (isNoSpeech(q, t)) return false;
  return q.looped || q.compressionRatio > t.compressionRatioThreshold || q.avgLogprob < t.logprobThreshold;
}

/** Whisper's skip rule: no-speech probability above the threshold and a low average log-probability. */
export function isNoSpeech(q: Pick<DecodeQuality, 'avgLogprob' | 'noSpeechProb'>, t: FallbackThresholds = DEFAULT_THRESHOLDS): boolean {
  return q.noSpeechProb > t.noSpeechThreshold && q.avgLogprob < t.logprobThreshold;
}
