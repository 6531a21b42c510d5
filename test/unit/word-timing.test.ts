import { describe, expect, it } from 'vitest';
import { dynamicTimeWarping, medianFilterRows, tokenJumpTimes } from '../../src/inference/decoding/alignment.js';
import { alignWords, clampWords, mergePunctuations, splitToWordTokens, type WordTiming } from '../../src/inference/decoding/words.js';
import { snapWordsToSpeechEdges } from '../../src/inference/transcriber.js';
import { formatTranscript, parseSrt, parseWebVtt, toJson } from '../../src/core/transcript-format.js';
import type { Segment } from '../../src/inference/types.js';

// Toy vocabulary: id → text piece. 9 is the end token (ids below it are text).
const PIECES = [' Hello', ',', ' wor', 'ld', '.', ' "', 'Hi', '"', ' a'];
const decode = (ids: number[]) => ids.map((id) => PIECES[id] ?? '').join('');

describe('median filter', () => {
  it('takes the median over a reflected window along each row', () => {
    const row = Float32Array.from([5, 1, 9, 2, 8]);
    // Width 3: [1,5,1]→1 (reflect: index -1 → 1), [5,1,9]→5, [1,9,2]→2, [9,2,8]→8, [2,8,2]→2.
    expect([...medianFilterRows(row, 5, 3)]).toEqual([1, 5, 2, 8, 2]);
    const two = Float32Array.from([1, 2, 3, 30, 20, 10]);
    expect([...medianFilterRows(two, 3, 1)]).toEqual([1, 2, 3, 30, 20, 10]);
    expect(() => medianFilterRows(row, 5, 4)).toThrow(RangeError);
  });
});

describe('dynamic time warping', () => {
  it('follows the cheap cells from the first to the last', () => {
    // 2 rows × 4 frames: row 0 is cheap on frames 0-1, row 1 on frames 2-3.
    const cost = Float32Array.from([-1, -1, 1, 1, 1, 1, -1, -1]);
    const { rowIndices, colIndices } = dynamicTimeWarping(cost, 2, 4);
    expect(rowIndices).toEqual([0, 0, 1, 1]);
    expect(colIndices).toEqual([0, 1, 2, 3]);
  });
});

describe('token jump times', () => {
  it('times each kept row where the path first reaches it (20-ms frames, real frames only)', () => {
    // 5 rows: [sot, notimestamps, t0, t1, eot]; 10 real frames of 20 padded ones.
    // The row predicting t0 (notimestamps) looks at frames 0-2, t0's row at 3-5, t1's row at 6-9.
    const tokens = 5;
    const total = 20;
    const focus = [[0, 1], [0, 3], [3, 6], [6, 10], [9, 10]];
    const head = new Float32Array(tokens * total);
    focus.forEach(([from, to], r) => {
      for (let c = 0; c < total; c++) head[r * total + c] = c >= from && c < to ? 1 : 0.01;
    });
    const times = tokenJumpTimes({ heads: [head, head], tokens, totalFrames: total, frames: 10, skipStart: 1, skipEnd: 1, medianFilterWidth: 1 });
    // Kept rows: notimestamps (t0 starts), t0 (t1 starts), t1 (the text ends).
    expect(times.map((t) => Math.round(t * 100) / 100)).toEqual([0, 0.06, 0.12]);
  });
});

describe('words from tokens', () => {
  it('splits at spaces and punctuation and merges punctuation into its neighbour', () => {
    const words = splitToWordTokens([0, 1, 2, 3, 4, 5, 6, 7], decode, 'en');
    expect(words.map((w) => w.word)).toEqual([' Hello', ',', ' world', '.', ' "Hi', '"']);
    const timed: WordTiming[] = words.map((w, k) => ({ ...w, start: k, end: k + 1, probability: 1 }));
    mergePunctuations(timed);
    expect(timed.filter((w) => w.word).map((w) => [w.word, w.start, w.end, w.tokens])).toEqual([
      [' Hello,', 0, 1, [0, 1]],
      [' world.', 2, 3, [2, 3, 4]],
      [' "Hi"', 4, 5, [5, 6, 7]],
    ]);
    // An opening quote on its own joins the word after it.
    const quoted: WordTiming[] = splitToWordTokens([0, 5, 8], decode, 'en').map((w, k) => ({ ...w, start: k, end: k + 1, probability: 1 }));
    mergePunctuations(quoted);
    expect(quoted.filter((w) => w.word).map((w) => [w.word, w.start, w.tokens])).toEqual([
      [' Hello', 0, [0]],
      [' " a', 2, [5, 8]],
    ]);
  });

  it('keeps a multi-byte character whole across tokens, and splits per character where words have no spaces', () => {
    // 'é' is two UTF-8 bytes; each half alone decodes to U+FFFD.
    const bytes = new TextEncoder().encode(' café');
    const byteDecode = (ids: number[]) => new TextDecoder().decode(Uint8Array.from(ids));
    const words = splitToWordTokens([...bytes], byteDecode, 'en');
    expect(words.map((w) => w.word)).toEqual([' café']);
    expect(words[0].tokens).toHaveLength(bytes.length);
    const chars = splitToWordTokens([...new TextEncoder().encode('日本')], byteDecode, 'ja');
    expect(chars.map((w) => w.word)).toEqual(['日', '本']);
  });

  it('deals words to segments by token count, times them by the jump times, and averages token probabilities', () => {
    const segments = [
      { start: 0, end: 1.2, textTokens: [0, 1] },
      { start: 1.2, end: 2.4, textTokens: [2, 3, 4] },
    ];
    const words = alignWords({
      segments,
      jumpTimes: [0.1, 0.5, 0.6, 1.3, 1.7, 2.0],
      tokenProbs: [0.9, 0.5, 0.8, 0.6, 1],
      decode,
      language: 'en',
    });
    expect(words).toEqual([
      [{ word: ' Hello,', start: 0.1, end: 0.5, probability: 0.9 }],
      // Its path start (0.6) is more than 0.5 s before its segment's own start: the segment's start wins (openai-whisper's rule).
      [{ word: ' world.', start: 1.2, end: 1.7, probability: 0.7 }],
    ]);
  });

  it('clamps words into their segment, in order', () => {
    const words = clampWords(
      [
        { word: ' a', start: -0.5, end: 0.4, probability: 1 },
        { word: ' b', start: 0.3, end: 0.2, probability: 1 },
        { word: ' c', start: 0.9, end: 3, probability: 1 },
      ],
      0,
      2,
    );
    expect(words.map((w) => [w.start, w.end])).toEqual([
      [0, 0.4],
      [0.4, 0.4],
      [0.9, 2],
    ]);
  });
});

describe('word edges at VAD speech edges', () => {
  const word = (w: string, start: number, end: number) => ({ word: w, start, end, probability: 1 });
  it('moves a stretch\'s first word start and last word end to the speech edges when close, never over a neighbour', () => {
    const chunk = { index: 0, start: 10, end: 20, pieces: [{ start: 10, end: 14 }, { start: 16, end: 20 }] };
    const segments: Segment[] = [
      { text: 'a b', start: 10.5, end: 13.5, avgLogprob: 0, noSpeechProb: 0, words: [word(' a', 10.5, 11), word(' b', 11, 13.5)] },
      { text: 'c', start: 16.1, end: 19, avgLogprob: 0, noSpeechProb: 0, words: [word(' c', 16.1, 19)] },
    ];
    snapWordsToSpeechEdges(chunk, segments, 0.2);
    // Speech in the first piece runs 10.2-13.8: 'a' starts 0.3 late, 'b' ends 0.3 early; both snap.
    expect(segments[0].words!.map((w) => [w.start, w.end])).toEqual([
      [10.2, 11],
      [11, 13.8],
    ]);
    expect([segments[0].start, segments[0].end]).toEqual([10.2, 13.8]);
    // 'c' starts within the pad and ends 0.8 before the speech ends: left alone.
    expect(segments[1].words![0]).toMatchObject({ start: 16.1, end: 19 });
  });
});

describe('transcript formats with words', () => {
  const segments = [
    { start: 1, end: 2.5, text: 'Hello, world.', words: [{ word: ' Hello,', start: 1, end: 1.6, probability: 0.9 }, { word: ' world.', start: 1.6, end: 2.5, probability: 0.8 }] },
    { start: 3, end: 4, text: 'No words here.' },
  ];
  it('gives one SRT or WebVTT cue per word on request, and keeps segments without words whole', () => {
    expect(parseSrt(formatTranscript('srt', segments, {}, 'word'))).toEqual([
      { start: 1, end: 1.6, text: 'Hello,' },
      { start: 1.6, end: 2.5, text: 'world.' },
      { start: 3, end: 4, text: 'No words here.' },
    ]);
    expect(parseWebVtt(formatTranscript('vtt', segments, {}, 'word')).map((c) => c.text)).toEqual(['Hello,', 'world.', 'No words here.']);
    expect(parseSrt(formatTranscript('srt', segments))).toHaveLength(2);
  });

  it('carries words in JSON', () => {
    const json = JSON.parse(toJson(segments)) as { segments: { words?: unknown[] }[] };
    expect(json.segments[0].words).toHaveLength(2);
    expect(json.segments[1].words).toBeUndefined();
  });
});
