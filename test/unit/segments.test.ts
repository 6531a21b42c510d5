import { describe, expect, it } from 'vitest';
import { tokensToSegments } from '../../src/inference/decoding/segments.js';
import { compressionRatio, isNoSpeech, needsFallback } from '../../src/inference/decoding/fallback.js';

// Toy ids: text tokens are < 100 and decode to their letter; 99 = EOT; 100 = <|0.00|> (0.02 s per step).
const TB = 100;
const EOT = 99;
const decode = (ids: number[]): string => ids.map((id) => ` ${String.fromCharCode(97 + id)}`).join('');
const ts = (seconds: number): number => TB + Math.round(seconds / 0.02);
const options = { timestampBegin: TB, eot: EOT, decode, duration: 12, noSpeechProb: 0.1 };

describe('tokensToSegments', () => {
  it('splits at timestamp pairs and ends on a single closing timestamp', () => {
    const tokens = [ts(0), 0, 1, ts(2), ts(2), 2, ts(5), EOT];
    const logprobs = [-0.1, -0.2, -0.3, -0.4, -0.5, -0.6, -0.7, -0.8];
    const segments = tokensToSegments(tokens, logprobs, options);
    expect(segments.map((s) => [s.text, s.start, s.end])).toEqual([
      ['a b', 0, 2],
      ['c', 2, 5],
    ]);
    expect(segments[0].avgLogprob).toBeCloseTo((-0.1 - 0.2 - 0.3 - 0.4) / 4, 12);
    expect(segments[1].noSpeechProb).toBe(0.1);
  });

  it('text after the last pair without a closing timestamp runs to the window end', () => {
    const segments = tokensToSegments([ts(0), 0, ts(1), ts(1), 1, 2, EOT], [0, 0, 0, 0, 0, 0, 0], options);
    expect(segments.map((s) => [s.text, s.start, s.end])).toEqual([
      ['a', 0, 1],
      ['b c', 1, 12],
    ]);
  });

  it('without pairs: one segment to the last timestamp, or to the window end', () => {
    expect(tokensToSegments([ts(0.5), 0, 1, ts(3.5), EOT], [0, 0, 0, 0, 0], options)).toMatchObject([
      { text: 'a b', start: 0.5, end: 3.5 },
    ]);
    expect(tokensToSegments([ts(0.5), 0, 1], [0, 0, 0], options)).toMatchObject([{ text: 'a b', start: 0.5, end: 12 }]);
    expect(tokensToSegments([0, 1, EOT], [0, 0, 0], { ...options, timestampBegin: Number.MAX_SAFE_INTEGER })).toMatchObject([
      { text: 'a b', start: 0, end: 12 },
    ]);
  });

  it('clamps times to the window and drops empty segments', () => {
    const segments = tokensToSegments([ts(0), ts(1), ts(1), 0, ts(20), EOT], [0, 0, 0, 0, 0, 0], options);
    expect(segments.map((s) => [s.text, s.start, s.end])).toEqual([['a', 1, 12]]);
    expect(tokensToSegments([EOT], [0], options)).toEqual([]);
    const padded = tokensToSegments([ts(0), 0, ts(11), ts(12.5), 1, ts(14), EOT], [0, 0, 0, 0, 0, 0, 0], options);
    expect(padded.map((s) => [s.text, s.start, s.end])).toEqual([['a', 0, 11]]);
  });
});

describe('fallback rules', () => {
  it('compression ratio: repetitive text compresses far better than a sentence', () => {
    expect(compressionRatio('And so my fellow Americans, ask not what your country can do for you.')).toBeLessThan(2.4);
    expect(compressionRatio(' Thank you.'.repeat(30))).toBeGreaterThan(2.4);
    expect(compressionRatio('')).toBe(0);
  });

  it("needs fallback on a loop, high compression or low logprob, except on what Whisper calls silence", () => {
    const ok = { compressionRatio: 1.2, avgLogprob: -0.3, noSpeechProb: 0.1, looped: false };
    expect(needsFallback(ok)).toBe(false);
    expect(needsFallback({ ...ok, looped: true })).toBe(true);
    expect(needsFallback({ ...ok, compressionRatio: 2.5 })).toBe(true);
    expect(needsFallback({ ...ok, avgLogprob: -1.2 })).toBe(true);
    expect(needsFallback({ ...ok, avgLogprob: -1.2, noSpeechProb: 0.7 })).toBe(false);
    expect(isNoSpeech({ avgLogprob: -1.2, noSpeechProb: 0.7 })).toBe(true);
    expect(isNoSpeech({ avgLogprob: -0.9, noSpeechProb: 0.9 })).toBe(false);
  });
});
