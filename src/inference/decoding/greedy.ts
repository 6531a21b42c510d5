/**
 * Batched token-by-token decoding of several windows at once with the KV
 * cache: greedy at temperature 0, seeded sampling above it. Rows that finish
 * leave the batch (the cache is shrunk), so a long window never makes the
 * finished ones pay for its extra steps.
 */
import type * as ort from 'onnxruntime-node';
import type { DecoderRunner } from '../model/decoder.js';
import { applyLogitRules, argmax, findRepetitionLoop, sampleToken, softmaxProbability, type LogitRules } from './logits-rules.js';

export interface DecodeRowsOptions {
  decoder: DecoderRunner;
  /** Encoder hidden states of the rows, [rows, frames, dModel]. */
  encoderStates: ort.Tensor;
  /** Prompt per row (SOT, language, task); all of one length. */
  prompts: readonly (readonly number[])[];
  rules: LogitRules;
  /** 0 = greedy. */
  temperature: number;
  /** One PRNG per row, used when temperature > 0. */
  randoms?: readonly (() => number)[];
  /** Most tokens sampled per row (Whisper: 224, and prompt + sampled ≤ max_target_positions). */
  maxNewTokens: number;
  /** <|nospeech|> / <|nocaptions|>; its probability at the SOT position is reported. */
  noSpeechToken?: number;
  /** Index of <|startoftranscript|> in the prompt. @defaultValue 0 */
  sotIndex?: number;
  /** Repetition-loop guard settings; `false` turns it off. */
  loopGuard?: false | { maxPeriod?: number; minRepeats?: number; minSpan?: number };
}

export interface RowDecode {
  /** Sampled tokens after the prompt, including a final <|endoftext|> when one was sampled. */
  tokens: number[];
  /** Log-probability of each sampled token (after the logit rules, before temperature). */
  logprobs: number[];
  /** Σ logprobs (OpenAI's sum_logprobs, <|endoftext|> included). */
  sumLogprob: number;
  /** sumLogprob / (tokens before <|endoftext|> + 1), as OpenAI whisper. */
  avgLogprob: number;
  noSpeechProb: number;
  /** Why the row stopped. */
  finish: 'eot' | 'length' | 'loop';
}

/** Decodes every row until <|endoftext|>, the token cap or a repetition loop. Results in row order. */
export async function decodeRows(options: DecodeRowsOptions): Promise<RowDecode[]> {
  const { decoder, prompts, rules, temperature, maxNewTokens } = options;
  const eot = rules.eot;
  const sotIndex = options.sotIndex ?? 0;
  const loopGuard = options.loopGuard === false ? undefined : (options.loopGuard ?? {});
  const results: RowDecode[] = prompts.map(() => ({
    tokens: [],
    logprobs: [],
    sumLogprob: 0,
    avgLogprob: 0,
    noSpeechProb: Number.NaN,
    finish: 'length',
  }));

  let logits = await decoder.start(options.encoderStates, prompts);
  const vocab = logits.vocab;
  for (let r = 0; r < prompts.length; r++) {
    if (options.noSpeechToken !== undefined) {
      const at = (r * logits.positions + sotIndex) * vocab;
      results[r].noSpeechProb = softmaxProbability(logits.data.subarray(at, at + vocab), options.noSpeechToken);
    }
  }

  let active = prompts.map((_, r) => r);
  const row = new Float32Array(vocab);
  while (active.length > 0) {
    const next: number[] = [];
    const still: number[] = [];
    for (let b = 0; b < active.length; b++) {
      const result = results[active[b]];
      const at = (b * logits.positions + logits.positions - 1) * vocab;
      row.set(logits.data.subarray(at, at + vocab));
      const logZ = applyLogitRules(row, result.tokens, rules);
      const token =
        temperature > 0 && options.randoms
          ? sampleToken(row, temperature, options.randoms[active[b]])
          : argmax(row);
      const logprob = row[token] - logZ;
      result.tokens.push(token);
      result.logprobs.push(logprob);
      result.sumLogprob += logprob;
      if (token === eot) {
        result.finish = 'eot';
        continue;
      }
      if (loopGuard) {
        const keep = findRepetitionLoop(result.tokens, loopGuard);
        if (keep >= 0) {
          result.tokens.length = keep;
          result.logprobs.length = keep;
          result.sumLogprob = result.logprobs.reduce((a, b) => a + b, 0);
          result.finish = 'loop';
          continue;
        }
      }
      if (result.tokens.length >= maxNewTokens) {
        result.finish = 'length';
        continue;
      }
      still.push(b);
      next.push(token);
    }
    if (still.length === 0) break;
    if (still.length < active.length) await decoder.keepRows(still);
    active = still.map((b) => active[b]);
    logits = await decoder.step(next);
  }

  for (const result of results) {
    const textTokens = result.tokens.at(-1) === eot ? result.tokens.length - 1 : result.tokens.length;
    result.avgLogprob = result.sumLogprob / (textTokens + 1);
  }
  return results;
}
