/**
 * Reads a Whisper model folder's JSON configs (config.json,
 * generation_config.json, preprocessor_config.json) into the typed settings
 * the engine needs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NotFoundError, ValidationError } from '../../core/errors.js';
import { logMelConfigFromPreprocessor, type LogMelConfig } from '../features/log-mel.js';

/** The fields of generation_config.json that decoding uses. */
export interface WhisperGenerationConfig {
  decoderStartTokenId?: number;
  eosTokenId?: number;
  noTimestampsTokenId?: number;
  /** '<|en|>' → id */
  langToId?: Record<string, number>;
  /** 'transcribe' | 'translate' → id */
  taskToId?: Record<string, number>;
  suppressTokens: number[];
  beginSuppressTokens: number[];
  maxInitialTimestampIndex?: number;
  isMultilingual?: boolean;
  /** [decoder layer, head] pairs whose cross-attention follows the speech in time (word timestamps); empty when unknown. */
  alignmentHeads: [number, number][];
}

export interface WhisperModelConfig {
  /** Decoder positions (448). */
  maxTargetPositions: number;
  /** Encoder positions (1500). */
  maxSourcePositions: number;
  decoderLayers: number;
  decoderAttentionHeads: number;
  dModel: number;
  numMelBins: number;
  vocabSize: number;
  generation: WhisperGenerationConfig;
  features: LogMelConfig;
}

function readJson(dir: string, file: string, required: boolean): Record<string, unknown> | undefined {
  const path = join(dir, file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (!required) return undefined;
    throw new NotFoundError(`model file not found: ${path}`, { cause: err });
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new ValidationError(`model file is not valid JSON: ${path}`, { cause: err });
  }
}

const numberOr = (value: unknown, fallback: number): number => (typeof value === 'number' ? value : fallback);
const optionalNumber = (value: unknown): number | undefined => (typeof value === 'number' ? value : undefined);
const numbers = (value: unknown): number[] => (Array.isArray(value) ? value.filter((v): v is number => typeof v === 'number') : []);

const alignmentHeads = (value: unknown): [number, number][] =>
  Array.isArray(value)
    ? value.filter((v): v is [number, number] => Array.isArray(v) && v.length === 2 && v.every((n) => Number.isInteger(n) && n >= 0))
    : [];

/**
 * Parses the configs of a transformers.js-layout model folder.
 * generation_config.json is optional (its fields then come from config.json).
 * @throws NotFoundError when config.json or preprocessor_config.json is missing.
 */
export function loadModelConfig(modelDir: string): WhisperModelConfig {
  const config = readJson(modelDir, 'config.json', true)!;
  const generation = readJson(modelDir, 'generation_config.json', false) ?? {};
  const preprocessor = readJson(modelDir, 'preprocessor_config.json', true)!;
  const pick = (key: string): unknown => generation[key] ?? config[key];
  const eos = pick('eos_token_id');
  const dModel = numberOr(config.d_model, 0);
  const heads = numberOr(config.decoder_attention_heads, 0);
  if (!dModel || !heads) throw new ValidationError(`config.json in ${modelDir} lacks d_model or decoder_attention_heads`);
  return {
    maxTargetPositions: numberOr(config.max_target_positions, 448),
    maxSourcePositions: numberOr(config.max_source_positions, 1500),
    decoderLayers: numberOr(config.decoder_layers, 0),
    decoderAttentionHeads: heads,
    dModel,
    numMelBins: numberOr(config.num_mel_bins, 80),
    vocabSize: numberOr(config.vocab_size, 0),
    generation: {
      decoderStartTokenId: optionalNumber(pick('decoder_start_token_id')),
      eosTokenId: Array.isArray(eos) ? optionalNumber(eos[0]) : optionalNumber(eos),
      noTimestampsTokenId: optionalNumber(pick('no_timestamps_token_id')),
      langToId: (generation.lang_to_id as Record<string, number> | undefined) ?? undefined,
      taskToId: (generation.task_to_id as Record<string, number> | undefined) ?? undefined,
      suppressTokens: numbers(pick('suppress_tokens')),
      beginSuppressTokens: numbers(pick('begin_suppress_tokens')),
      maxInitialTimestampIndex: optionalNumber(pick('max_initial_timestamp_index')),
      isMultilingual: typeof generation.is_multilingual === 'boolean' ? generation.is_multilingual : undefined,
      alignmentHeads: alignmentHeads(pick('alignment_heads')),
    },
    features: logMelConfigFromPreprocessor(preprocessor),
  };
}
