/**
 * Turns one window's sampled tokens into timed segments, as OpenAI whisper's
 * `transcribe()` does with timestamp tokens, with times relative to the window.
 */
import type { Segment } from '../types.js';

/** Seconds per timestamp step. */
export const TIME_PRECISION = 0.02;

export interface SegmentTokensOptions {
  timestampBegin: number;
  eot: number;
  /** Text of token ids (timestamps and special tokens left out). */
  decode: (ids: number[]) => string;
  /** Length of the window's real audio in seconds: segment times are clamped to it. */
  duration: number;
  noSpeechProb: number;
}

/**
 * Splits `tokens` at consecutive timestamp pairs into segments.
 * - Text between `<|a|> … <|b|>` becomes a segment [a, b].
 * - Text after the last closing timestamp with no end of its own (the model
 *   stopped, or hit the token cap) runs to the window's end.
 * - Without any timestamp pair, all text is one segment ending at the last
 *   timestamp seen, or the window's end.
 * Segments with empty text, or opening after the window's real audio ends,
 * are dropped; text is trimmed.
 */
export function tokensToSegments(tokens: readonly number[], logprobs: readonly number[], options: SegmentTokensOptions): Segment[] {
  return tokensToTimedSegments(tokens, logprobs, options).map((s) => s.segment);
}

/** {@link tokensToSegments}, with each segment's text tokens (ids below <|endoftext|>), for word alignment. */
export function tokensToTimedSegments(
  tokens: readonly number[],
  logprobs: readonly number[],
  options: SegmentTokensOptions,
): { segment: Segment; textTokens: number[] }[] {
  const { timestampBegin: tb, eot, duration } = options;
  let end = tokens.length;
  if (tokens[end - 1] === eot) end--;
  const isTs = (i: number): boolean => tokens[i] >= tb;
  const seconds = (id: number): number => Math.round((id - tb) * TIME_PRECISION * 100) / 100;
  const clamp = (t: number): number => Math.min(Math.max(t, 0), duration);

  const pieces: { from: number; to: number; start: number; end: number }[] = [];
  const boundaries: number[] = [];
  for (let i = 1; i < end; i++) if (isTs(i - 1) && isTs(i)) boundaries.push(i);
  const singleTimestampEnding = end >= 2 && isTs(end - 1) && !isTs(end - 2);

  if (boundaries.length > 0) {
    const slices = [...boundaries];
    if (singleTimestampEnding || !isTs(end - 1)) slices.push(end);
    let last = 0;
    for (const cut of slices) {
      if (cut <= last) continue;
      const startTs = isTs(last) ? seconds(tokens[last]) : 0;
      const endTs = isTs(cut - 1) ? seconds(tokens[cut - 1]) : duration;
      pieces.push({ from: last, to: cut, start: startTs, end: endTs });
      last = cut;
    }
  } else if (end > 0) {
    let lastTs = -1;
    for (let i = 0; i < end; i++) if (isTs(i)) lastTs = tokens[i];
    const startTs = isTs(0) ? seconds(tokens[0]) : 0;
    const endTs = lastTs > tb && lastTs !== tokens[0] ? seconds(lastTs) : duration;
    pieces.push({ from: 0, to: end, start: startTs, end: endTs });
  }

  const segments: { segment: Segment; textTokens: number[] }[] = [];
  for (const piece of pieces) {
    // A segment that opens past the real audio was dreamt up in the zero padding.
    if (piece.start >= duration) continue;
    const ids = tokens.slice(piece.from, piece.to).filter((t) => t < tb);
    const text = options.decode(ids).trim();
    if (text === '') continue;
    const lps = logprobs.slice(piece.from, piece.to);
    const start = clamp(piece.start);
    segments.push({
      segment: {
        text,
        start,
        end: Math.max(start, clamp(piece.end)),
        avgLogprob: lps.length > 0 ? lps.reduce((a, b) => a + b, 0) / lps.length : 0,
        noSpeechProb: options.noSpeechProb,
      },
      textTokens: ids.filter((t) => t < eot),
    });
  }
  return segments;
}
