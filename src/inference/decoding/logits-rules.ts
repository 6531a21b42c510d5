/**
 * Whisper's logit filters, applied in place to one row of next-token logits
 * in the order of OpenAI whisper's `DecodingTask`: SuppressBlank (here
 * `beginSuppressTokens`), SuppressTokens, ApplyTimestampRules.
 */

export interface LogitRules {
  /** <|endoftext|> */
  eot: number;
  /** <|notimestamps|> */
  noTimestamps: number;
  /** <|0.00|>; ids from here up are timestamps. */
  timestampBegin: number;
  /** Always suppressed (generation_config `suppress_tokens`, plus the task/SOT control tokens as OpenAI does). */
  suppressTokens: readonly number[];
  /** Suppressed at the first sampled position only (blank ' ' and <|endoftext|>). */
  beginSuppressTokens: readonly number[];
  /**
   * Latest timestamp index allowed as the first token (OpenAI: 1.0 s / 0.02 = 50).
   * Undefined: no limit.
   */
  maxInitialTimestampIndex?: number;
  /** Whether timestamp rules apply (prompt without <|notimestamps|>). @defaultValue true */
  timestamps?: boolean;
}

/**
 * Applies the suppressions and the timestamp rules to `logits` (one row,
 * vocabulary-sized), given the tokens sampled so far after the prompt.
 * Matches OpenAI whisper's SuppressBlank + SuppressTokens + ApplyTimestampRules.
 * @returns log Σ exp(logits) of the filtered row (the log-softmax normaliser).
 */
export function applyLogitRules(logits: Float32Array, sampled: readonly number[], rules: LogitRules): number {
  const n = logits.length;
  if (sampled.length === 0) for (const id of rules.beginSuppressTokens) if (id < n) logits[id] = -Infinity;
  for (const id of rules.suppressTokens) if (id < n) logits[id] = -Infinity;
  if (rules.timestamps === false) return logSumExp(logits);

  const tb = rules.timestampBegin;
  logits[rules.noTimestamps] = -Infinity;

  const len = sampled.length;
  const lastWasTimestamp = len >= 1 && sampled[len - 1] >= tb;
  const penultimateWasTimestamp = len < 2 || sampled[len - 2] >= tb;
  if (lastWasTimestamp) {
    // Timestamps come in pairs, except directly before <|endoftext|>.
    if (penultimateWasTimestamp) logits.fill(-Infinity, tb);
    else logits.fill(-Infinity, 0, rules.eot);
  }

  let lastTimestamp = -1;
  for (let i = len - 1; i >= 0; i--) {
    if (sampled[i] >= tb) {
      lastTimestamp = sampled[i];
      break;
    }
  }
  if (lastTimestamp >= 0) {
    // Timestamps never decrease, and a segment that closes must have a non-zero length.
    const timestampLast = lastWasTimestamp && !penultimateWasTimestamp ? lastTimestamp : lastTimestamp + 1;
    logits.fill(-Infinity, tb, Math.min(timestampLast, n));
  }

  if (len === 0) {
    logits.fill(-Infinity, 0, tb);
    if (rules.maxInitialTimestampIndex !== undefined) logits.fill(-Infinity, tb + rules.maxInitialTimestampIndex + 1);
  }

  // If the total probability of all timestamps beats every single text token, force a timestamp.
  // One pass gathers both partial sums, so the caller gets log Z of the final row for free.
  let max = -Infinity;
  let maxText = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = logits[i];
    if (v > max) max = v;
    if (i < tb && v > maxText) maxText = v;
  }
  if (max === -Infinity) return -Infinity;
  let sumText = 0;
  let sumTimestamps = 0;
  for (let i = 0; i < tb; i++) sumText += Math.exp(logits[i] - max);
  for (let i = tb; i < n; i++) sumTimestamps += Math.exp(logits[i] - max);
  const logZ = max + Math.log(sumText + sumTimestamps);
  const timestampLogprob = max + Math.log(sumTimestamps) - logZ;
  if (timestampLogprob > maxText - logZ) {
    logits.fill(-Infinity, 0, tb);
    return max + Math.log(sumTimestamps);
  }
  return logZ;
}

/** log Σ exp(values[from..to)), computed stably in float64; -Infinity when all are -Infinity. */
export function logSumExp(values: Float32Array, from = 0, to = values.length): number {
  let max = -Infinity;
  for (let i = from; i < to; i++) if (values[i] > max) max = values[i];
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (let i = from; i < to; i++) sum += Math.exp(values[i] - max);
  return max + Math.log(sum);
}

/** Index of the largest value (the first one on ties, as torch/numpy argmax). */
export function argmax(values: Float32Array): number {
  let best = 0;
  let max = values[0];
  for (let i = 1; i < values.length; i++) {
    if (values[i] > max) {
      max = values[i];
      best = i;
    }
  }
  return best;
}

/**
 * Draws a token from softmax(logits / temperature) with `random()` in [0, 1).
 * Suppressed (-Infinity) tokens are never drawn.
 */
export function sampleToken(logits: Float32Array, temperature: number, random: () => number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let total = 0;
  for (let i = 0; i < logits.length; i++) total += Math.exp((logits[i] - max) / temperature);
  let target = random() * total;
  let lastFinite = 0;
  for (let i = 0; i < logits.length; i++) {
    if (logits[i] === -Infinity) continue;
    lastFinite = i;
    target -= Math.exp((logits[i] - max) / temperature);
    if (target < 0) return i;
  }
  return lastFinite;
}

/** Probability of `token` under softmax(logits) (raw logits, no filters): Whisper's no-speech probability. */
export function softmaxProbability(logits: Float32Array, token: number): number {
  return Math.exp(logits[token] - logSumExp(logits));
}

/**
 * Detects a repetition loop at the end of `tokens`: the tail is one period of
 * `p` tokens (1 ≤ p ≤ maxPeriod) repeated at least `minRepeats` times and
 * covering at least `minSpan` tokens.
 * @returns the length to keep (the tokens before the tail plus one period), or -1 when no loop.
 */
export function findRepetitionLoop(tokens: readonly number[], { maxPeriod = 32, minRepeats = 3, minSpan = 24 } = {}): number {
  const n = tokens.length;
  for (let p = 1; p <= maxPeriod && p * minRepeats <= n; p++) {
    let matched = 0;
    while (matched + p < n && tokens[n - 1 - matched] === tokens[n - 1 - matched - p]) matched++;
    const repeats = Math.floor(matched / p) + 1;
    if (repeats >= minRepeats && repeats * p >= minSpan) return n - (repeats - 1) * p;
  }
  return -1;
}

/** A small seeded PRNG (mulberry32): reproducible sampling at temperature > 0. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
