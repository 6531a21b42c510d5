import { describe, expect, it } from 'vitest';
import {
  applyLogitRules,
  argmax,
  findRepetitionLoop,
  logSumExp,
  sampleToken,
  seededRandom,
  softmaxProbability,
  type LogitRules,
} from '../../src/inference/decoding/logits-rules.js';

// A toy vocabulary: 0..5 text, 6 = <|endoftext|>, 7 = <|notimestamps|>, 8..15 = <|0.00|>..<|0.14|>.
const EOT = 6;
const NO_TS = 7;
const TB = 8;
const V = 16;
const rules: LogitRules = {
  eot: EOT,
  noTimestamps: NO_TS,
  timestampBegin: TB,
  suppressTokens: [1],
  beginSuppressTokens: [0, EOT],
  maxInitialTimestampIndex: 2,
};

const logits = (values: Record<number, number> = {}, fill = 0): Float32Array => {
  const out = new Float32Array(V).fill(fill);
  for (const [id, v] of Object.entries(values)) out[Number(id)] = v;
  return out;
};
const allowed = (row: Float32Array): number[] => [...row.keys()].filter((i) => row[i] !== -Infinity);

describe('applyLogitRules', () => {
  it('first step: only timestamps up to max_initial_timestamp, never <|notimestamps|> or begin-suppressed tokens', () => {
    const row = logits();
    applyLogitRules(row, [], rules);
    expect(allowed(row)).toEqual([TB, TB + 1, TB + 2]);
  });

  it('without a max initial timestamp every timestamp may open', () => {
    const row = logits();
    applyLogitRules(row, [], { ...rules, maxInitialTimestampIndex: undefined });
    expect(allowed(row)).toEqual([8, 9, 10, 11, 12, 13, 14, 15]);
  });

  it('suppress_tokens apply at every step; begin suppression only at the first', () => {
    const row = logits({ 2: 5 });
    applyLogitRules(row, [TB, 2], rules);
    expect(row[1]).toBe(-Infinity);
    expect(row[0]).toBe(0);
    expect(row[EOT]).toBe(0);
  });

  it('after a text token following a timestamp, a closing timestamp must not go back (>= last + 1)', () => {
    const row = logits({ 3: 5 });
    applyLogitRules(row, [TB + 2, 3], rules);
    // text, EOT and timestamps from <|0.06|> up stay; <|0.00|>..<|0.04|> (and notimestamps, token 1) are out
    expect(allowed(row)).toEqual([0, 2, 3, 4, 5, EOT, 11, 12, 13, 14, 15]);
  });

  it('a closing timestamp (single) must be followed by a timestamp >= itself or EOT', () => {
    const row = logits({ [EOT]: 5 });
    applyLogitRules(row, [TB, 3, TB + 4], rules);
    expect(allowed(row)).toEqual([EOT, 12, 13, 14, 15]);
  });

  it('after a timestamp pair the next token is text (or EOT)', () => {
    const row = logits();
    applyLogitRules(row, [TB, 3, TB + 4, TB + 4], rules);
    expect(allowed(row)).toEqual([0, 2, 3, 4, 5, EOT]);
  });

  it('forces a timestamp when the timestamps together outweigh the best text token', () => {
    // Each of 6 allowed timestamps has logit 1; best text logit 2: Σexp(ts) = 6e ≈ 16.3 > e² ≈ 7.4
    const row = logits({ 2: 2, 3: 1, 9: 1, 10: 1, 11: 1, 12: 1, 13: 1, 14: 1, 15: 1 }, -10);
    applyLogitRules(row, [TB, 3], rules);
    expect(argmax(row)).toBeGreaterThanOrEqual(TB);
    expect(allowed(row).every((id) => id >= TB)).toBe(true);
  });

  it('keeps text when the best text token outweighs all timestamps together', () => {
    const row = logits({ 2: 6, 9: 1, 10: 1 }, -10);
    applyLogitRules(row, [TB, 3], rules);
    expect(argmax(row)).toBe(2);
    expect(row[9]).toBe(1);
  });

  it('with timestamps off only the suppressions apply', () => {
    const row = logits();
    applyLogitRules(row, [], { ...rules, timestamps: false });
    expect(allowed(row)).toEqual([2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
  });
});

describe('helpers', () => {
  it('logSumExp is stable and handles all -Infinity', () => {
    expect(logSumExp(Float32Array.from([1000, 1000]))).toBeCloseTo(1000 + Math.log(2), 9);
    expect(logSumExp(Float32Array.from([-Infinity, -Infinity]))).toBe(-Infinity);
  });

  it('softmaxProbability is the softmax of the raw logits', () => {
    const p = softmaxProbability(Float32Array.from([0, Math.log(3)]), 1);
    expect(p).toBeCloseTo(0.75, 6);
  });

  it('argmax picks the first of equal maxima', () => {
    expect(argmax(Float32Array.from([1, 3, 3, 2]))).toBe(1);
  });

  it('sampleToken follows softmax(logits / T), never draws suppressed tokens, and is reproducible', () => {
    const row = Float32Array.from([0, Math.log(3), -Infinity]);
    const random = seededRandom(1);
    const counts = [0, 0, 0];
    for (let i = 0; i < 20000; i++) counts[sampleToken(row, 1, random)]++;
    expect(counts[2]).toBe(0);
    expect(counts[1] / 20000).toBeGreaterThan(0.73);
    expect(counts[1] / 20000).toBeLessThan(0.77);
    const a = seededRandom(99);
    const b = seededRandom(99);
    expect(Array.from({ length: 5 }, a)).toEqual(Array.from({ length: 5 }, b));
  });
});

describe('findRepetitionLoop', () => {
  it('finds a phrase repeated until it covers the span and keeps one copy', () => {
    const phrase = [10, 11, 12, 13, 14, 15, 16, 17];
    const tokens = [1, 2, 3, ...phrase, ...phrase, ...phrase];
    expect(findRepetitionLoop(tokens)).toBe(3 + phrase.length);
  });

  it('needs many repeats of a short period', () => {
    expect(findRepetitionLoop([5, 7, 7, 7, 7, 7])).toBe(-1);
    expect(findRepetitionLoop([5, ...new Array<number>(24).fill(7)])).toBe(2);
  });

  it('ignores ordinary text', () => {
    const tokens = Array.from({ length: 200 }, (_, i) => (i * 7919) % 1000);
    expect(findRepetitionLoop(tokens)).toBe(-1);
    expect(findRepetitionLoop([1, 2, 1, 2, 3])).toBe(-1);
  });
});

describe('applyLogitRules return value', () => {
  it('is log Σ exp of the filtered row, with and without timestamps', () => {
    for (const sampled of [[], [TB, 3], [TB, 3, TB + 4]]) {
      const row = logits({ 2: 2, 3: 1, 9: 1.5, 12: 0.5 }, -1);
      const logZ = applyLogitRules(row, sampled, rules);
      expect(logZ).toBeCloseTo(logSumExp(row), 6);
    }
    const row = logits({ 2: 2 });
    expect(applyLogitRules(row, [], { ...rules, timestamps: false })).toBeCloseTo(logSumExp(row), 6);
  });
});
