/**
 * The decode-loop graph (tools/model-prep/search_graph.py): ONNX Runtime's
 * WhisperBeamSearch decodes whole windows in one `run()`, greedily with one
 * beam, applying Whisper's timestamp rules itself, and reports each row's
 * no-speech probability and (for prompts with -1 in the language slot) the
 * detected language. Suppressed tokens are masked inside the graph; the
 * first-position rule (a timestamp, no later than max_initial_timestamp) and
 * the no-timestamps mode go in as the operator's vocabulary masks.
 */
import * as ort from 'onnxruntime-node';
import type { Logger } from '../../core/logger.js';
import { ValidationError } from '../../core/errors.js';
import { runSession } from './sessions.js';
import { float32Data } from './tensors.js';

export interface SearchRules {
  eot: number;
  /** <|0.00|>; ids from here up are timestamps. */
  timestampBegin: number;
  vocabSize: number;
  /** Never sampled. */
  suppressTokens: readonly number[];
  /** Sampled tokens' first position: only <|0.00|> … this index may open a window (timestamps mode). */
  maxInitialTimestampIndex: number;
  /** Suppressed at the first position without timestamps (blank, <|endoftext|>). */
  beginSuppressTokens: readonly number[];
  timestamps: boolean;
}

export interface SearchRow {
  /** Sampled tokens after the prompt, with the final <|endoftext|> when one was sampled. */
  tokens: number[];
  /** Σ log-probabilities of the sampled tokens, <|endoftext|> included. */
  sumLogprob: number;
  finish: 'eot' | 'length';
  /** Whisper's no-speech probability (softmax at <|startoftranscript|>). */
  noSpeechProb: number;
  /** The most likely language token at <|startoftranscript|>, among `languageTokens`. */
  languageToken: number;
}

export interface SearchRunner {
  /**
   * Greedy (temperature 0) decode of every row in one run. Prompts must share
   * one length; a -1 in a prompt is replaced by the row's detected language token.
   */
  decode(
    encoderStates: ort.Tensor,
    prompts: readonly (readonly number[])[],
    rules: SearchRules,
    maxNewTokens: number,
    languageTokens: readonly number[],
  ): Promise<SearchRow[]>;
}

const int32 = (values: readonly number[], dims: readonly number[]): ort.Tensor => new ort.Tensor('int32', Int32Array.from(values), dims);

/** Wraps the decode-loop session. */
export function createSearchRunner(session: ort.InferenceSession, logger: Logger): SearchRunner {
  const log = logger.child({ module: 'whisper-search' });
  for (const name of ['encoder_output', 'decoder_input_ids', 'language_tokens', 'vocab_mask', 'prefix_vocab_mask']) {
    if (!session.inputNames.includes(name)) throw new ValidationError(`decode-loop graph has no ${name} input; prepare the model again`);
  }
  // Masks depend only on the rules; a window's rules rarely change between calls.
  let masks: { key: string; vocab: ort.Tensor; first: Int32Array } | undefined;
  const masksFor = (rules: SearchRules) => {
    const key = JSON.stringify(rules);
    if (masks?.key === key) return masks;
    // suppress_tokens are masked inside the graph already; masking them here too keeps callers honest.
    const vocab = new Int32Array(rules.vocabSize).fill(1);
    for (const id of rules.suppressTokens) if (id < rules.vocabSize) vocab[id] = 0;
    if (!rules.timestamps) vocab.fill(0, rules.timestampBegin);
    const first = new Int32Array(rules.vocabSize);
    if (rules.timestamps) {
      // OpenAI's ApplyTimestampRules at the first sampled position: a timestamp, at most max_initial_timestamp.
      first.fill(1, rules.timestampBegin, Math.min(rules.vocabSize, rules.timestampBegin + rules.maxInitialTimestampIndex + 1));
    } else {
      first.fill(1, 0, rules.timestampBegin);
      for (const id of rules.beginSuppressTokens) if (id < rules.vocabSize) first[id] = 0;
    }
    masks = { key, vocab: new ort.Tensor('int32', vocab, [rules.vocabSize]), first };
    return masks;
  };

  return {
    async decode(encoderStates, prompts, rules, maxNewTokens, languageTokens) {
      const rows = prompts.length;
      if (rows === 0) return [];
      if (maxNewTokens < 2) throw new ValidationError(`the decode-loop graph needs maxNewTokens >= 2, got ${maxNewTokens}`);
      const width = prompts[0].length;
      if (prompts.some((p) => p.length !== width)) throw new ValidationError('decoder prompts must share one length');
      const { vocab, first } = masksFor(rules);
      const prefix = new Int32Array(rows * rules.vocabSize);
      for (let r = 0; r < rows; r++) prefix.set(first, r * rules.vocabSize);
      const maxLength = width + maxNewTokens;
      const feeds: Record<string, ort.Tensor> = {
        encoder_output: encoderStates,
        max_length: int32([maxLength], [1]),
        min_length: int32([0], [1]),
        num_beams: int32([1], [1]),
        num_return_sequences: int32([1], [1]),
        // Length penalty 0 makes the sequence score the plain sum of log-probabilities.
        length_penalty: new ort.Tensor('float32', Float32Array.of(0), [1]),
        repetition_penalty: new ort.Tensor('float32', Float32Array.of(1), [1]),
        vocab_mask: vocab,
        prefix_vocab_mask: new ort.Tensor('int32', prefix, [rows, rules.vocabSize]),
        decoder_input_ids: int32(prompts.flat(), [rows, width]),
        language_tokens: int32(languageTokens.length > 0 ? languageTokens : [rules.eot], [Math.max(1, languageTokens.length)]),
        logits_processor: int32([rules.timestamps ? 1 : 0], [1]),
      };
      const out = await runSession(session, feeds, ['sequences', 'sequences_scores', 'no_speech_probs', 'detected_language'], log);
      const sequences = out.sequences.data as Int32Array;
      const scores = float32Data(out.sequences_scores);
      const noSpeech = out.no_speech_probs.data as Float32Array;
      const languages = out.detected_language.data as Int32Array;
      const stride = out.sequences.dims[2];
      return Array.from({ length: rows }, (_, r) => {
        const tokens: number[] = [];
        let finish: SearchRow['finish'] = 'length';
        for (let i = width; i < stride; i++) {
          const token = sequences[r * stride + i];
          tokens.push(token);
          if (token === rules.eot) {
            finish = 'eot';
            break;
          }
        }
        return { tokens, sumLogprob: scores[r], finish, noSpeechProb: noSpeech[r], languageToken: languages[r] };
      });
    },
  };
}
