import { describe, expect, it } from 'vitest';
import { rowFromSearch } from '../../src/inference/decoding/search-rows.js';
import { findRepetitionLoop } from '../../src/inference/decoding/logits-rules.js';

const EOT = 50257;
const row = (tokens: number[], sumLogprob: number, finish: 'eot' | 'length' = 'eot') => ({ tokens, sumLogprob, finish, noSpeechProb: 0.02, languageToken: 50259 });

describe('rowFromSearch', () => {
  it('keeps a finished row whole, spreading the sum of log-probabilities evenly', () => {
    const decoded = rowFromSearch(row([10, 11, 12, EOT], -2), { eot: EOT });
    expect(decoded).toEqual({
      tokens: [10, 11, 12, EOT],
      logprobs: [-0.5, -0.5, -0.5, -0.5],
      sumLogprob: -2,
      avgLogprob: -2 / 4, // OpenAI whisper: sum / (text tokens + 1)
      noSpeechProb: 0.02,
      finish: 'eot',
    });
  });

  it('cuts a repetition loop where the step loop would have stopped, keeping the share of the sum', () => {
    const loop = [1, 2, 3, 4];
    const tokens = [7, 8, ...Array.from({ length: 12 }, () => loop).flat(), 9, EOT];
    const guard = { maxPeriod: 8, minRepeats: 3, minSpan: 12 };
    const decoded = rowFromSearch(row(tokens, -9, 'length'), { eot: EOT, loopGuard: guard });
    // The step loop checks after every token: the first prefix with a loop is 2 + 12 tokens long, cut to 2 + 4.
    let firstLoop = -1;
    for (let k = 1; k <= tokens.length && firstLoop < 0; k++) if (findRepetitionLoop(tokens.slice(0, k), guard) >= 0) firstLoop = k;
    expect(firstLoop).toBe(14);
    expect(decoded.tokens).toEqual([7, 8, 1, 2, 3, 4]);
    expect(decoded.finish).toBe('loop');
    expect(decoded.sumLogprob).toBeCloseTo((-9 * 6) / tokens.length);
    expect(decoded.logprobs).toHaveLength(6);
  });

  it('leaves loops alone when the guard is off, and handles a row cut by the length cap', () => {
    const tokens = Array.from({ length: 30 }, () => 5);
    expect(rowFromSearch(row(tokens, -3, 'length'), { eot: EOT, loopGuard: false })).toMatchObject({ tokens, finish: 'length', avgLogprob: -3 / 31 });
    expect(rowFromSearch(row([], 0, 'length'), { eot: EOT })).toMatchObject({ tokens: [], logprobs: [], avgLogprob: 0 });
  });
});
