/**
 * Turns the decode-loop graph's output into the step loop's row results, so
 * that the quality checks, fallback and segmenting downstream see one shape.
 */
import type { SearchRow } from '../model/search.js';
import type { RowDecode } from './greedy.js';
import { findRepetitionLoop } from './logits-rules.js';

export interface SearchRowOptions {
  eot: number;
  /** The step loop's repetition guard settings; `false` turns it off. */
  loopGuard?: false | { maxPeriod?: number; minRepeats?: number; minSpan?: number };
}

/**
 * The row as the step loop would have returned it. The repetition guard runs
 * on every prefix, as it does after each sampled token there, and cuts the
 * tokens at the same place. The graph reports only the sum of log-probabilities,
 * so each token's log-probability is that sum spread evenly; segment
 * confidences are then the window's average, as OpenAI whisper reports them
 * (a cut row keeps the share of the sum of the tokens it keeps).
 */
export function rowFromSearch(row: SearchRow, options: SearchRowOptions): RowDecode {
  let tokens = row.tokens;
  let finish: RowDecode['finish'] = row.finish;
  let sumLogprob = row.sumLogprob;
  if (options.loopGuard !== false) {
    const guard = options.loopGuard ?? {};
    const textEnd = tokens.at(-1) === options.eot ? tokens.length - 1 : tokens.length;
    for (let k = 1; k <= textEnd; k++) {
      const keep = findRepetitionLoop(tokens.slice(0, k), guard);
      if (keep >= 0) {
        sumLogprob *= keep / tokens.length;
        tokens = tokens.slice(0, keep);
        finish = 'loop';
        break;
      }
    }
  }
  const perToken = tokens.length > 0 ? sumLogprob / tokens.length : 0;
  const textTokens = tokens.at(-1) === options.eot ? tokens.length - 1 : tokens.length;
  return {
    tokens,
    logprobs: tokens.map(() => perToken),
    sumLogprob,
    avgLogprob: sumLogprob / (textTokens + 1),
    noSpeechProb: row.noSpeechProb,
    finish,
  };
}
