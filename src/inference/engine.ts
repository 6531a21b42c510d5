/**
 * The Whisper ONNX engine: 30-s windows of 16 kHz audio in, timed segments
 * out. Features, encoder and decoder run batched on the calling thread (the
 * Transcriber hosts this in a worker thread); ORT's own intra-op threads do
 * the heavy lifting. Greedy decoding runs either inside ONNX Runtime (the
 * prepared decode-loop graph, one run per batch) or as a token-by-token loop
 * here (the step loop), which also serves every temperature fallback.
 */
import { basename } from 'node:path';
import { availableParallelism } from 'node:os';
import type * as ort from 'onnxruntime-node';
import type { Logger } from '../core/logger.js';
import { ValidationError } from '../core/errors.js';
import type { ModelInfo, Segment } from './types.js';
import { SAMPLE_RATE } from './types.js';
import { createLogMelExtractor } from './features/log-mel.js';
import { loadModelConfig } from './model/model-config.js';
import { createWhisperSessions, type ExecutionProviderSetting, type GraphSource, type ModelVariant } from './model/sessions.js';
import { createEncoderRunner } from './model/encoder.js';
import { createDecoderRunner } from './model/decoder.js';
import { createSearchRunner, type SearchRules } from './model/search.js';
import { rowFromSearch } from './decoding/search-rows.js';
import { selectRows } from './model/tensors.js';
import { loadTokenizer } from './tokenizer.js';
import { argmax, seededRandom, type LogitRules } from './decoding/logits-rules.js';
import { decodeRows, type RowDecode } from './decoding/greedy.js';
import { tokensToTimedSegments, TIME_PRECISION } from './decoding/segments.js';
import { tokenJumpTimes } from './decoding/alignment.js';
import { alignWords, clampWords } from './decoding/words.js';
import {
  compressionRatio,
  DEFAULT_TEMPERATURES,
  DEFAULT_THRESHOLDS,
  isNoSpeech,
  needsFallback,
  type FallbackThresholds,
} from './decoding/fallback.js';

/**
 * Where greedy decoding runs: 'graph' inside ONNX Runtime (prepared models
 * only), 'steps' token by token in JavaScript, 'auto' the faster of the two
 * for the execution provider (see {@link chooseDecodeLoop}).
 */
export type DecodeLoopSetting = 'auto' | 'graph' | 'steps';

/**
 * 'auto' → 'graph' whenever the prepared decode-loop graph is loaded: on CUDA
 * it keeps the KV cache on the GPU (the step loop copies it over PCIe every
 * token), and on CPU it measured faster too (bench/results, "single graph" row).
 */
export function chooseDecodeLoop(setting: DecodeLoopSetting, graphAvailable: boolean): 'graph' | 'steps' {
  if (setting === 'steps') return 'steps';
  if (setting === 'graph' && !graphAvailable) {
    throw new ValidationError('decode loop "graph" needs prepared graphs (run npm run prepare-models), or use "steps"');
  }
  return graphAvailable ? 'graph' : 'steps';
}

export interface EngineOptions {
  /** Absolute path of a model folder in the transformers.js layout. */
  modelDir: string;
  /** 'q8' | 'fp16' | 'fp32' — picks onnx/*_quantized.onnx, *_fp16.onnx or plain *.onnx. @defaultValue 'q8' */
  variant?: ModelVariant;
  /** 'auto' tries CUDA then falls back to CPU; 'cuda' and 'webgpu' fail if that provider cannot be used. @defaultValue 'auto' */
  executionProvider?: ExecutionProviderSetting;
  /** Prepared graphs when present ('auto'), required ('prepared'), or never ('original'). @defaultValue 'auto' */
  graphs?: GraphSource;
  /** Folder of prepared graphs. @defaultValue ./models/prepared */
  preparedRoot?: string;
  /** @defaultValue 'auto' */
  decodeLoop?: DecodeLoopSetting;
  /** ORT intra-op threads. @defaultValue os.availableParallelism() */
  threads?: number;
  /** Windows per encoder/decoder batch. @defaultValue 4 */
  batchSize?: number;
  logger: Logger;
  /** Decoding temperatures tried in turn while a decode fails the quality checks. @defaultValue [0, 0.2, 0.4, 0.6, 0.8, 1.0] */
  temperatures?: readonly number[];
  /** Fallback and no-speech thresholds. @defaultValue { compressionRatioThreshold: 2.4, logprobThreshold: -1, noSpeechThreshold: 0.6 } */
  thresholds?: Partial<FallbackThresholds>;
  /** Latest first timestamp, seconds (OpenAI's max_initial_timestamp). @defaultValue 1.0 */
  maxInitialTimestamp?: number;
  /** Most tokens sampled per window. @defaultValue 224 (max_target_positions / 2) */
  maxNewTokens?: number;
  /** Seed of the sampling PRNG at temperature > 0 (mixed with a hash of each window). @defaultValue 0 */
  seed?: number;
  /**
   * Windows whose loudest 30-ms frame is quieter than this (dBFS RMS) are
   * reported as no speech without decoding: Whisper hallucinates on digital
   * silence and faint noise (" you", " Thank you."), and its no-speech
   * probability does not catch them on small models. The quietest speech in
   * the test corpus peaks near −26 dBFS. `null` turns the gate off. @defaultValue -45
   */
  speechGateDbfs?: number | null;
}

export interface WindowDecodeOptions {
  /** ISO 639-1 code; detected per window when omitted on a multilingual model. */
  language?: string;
  /** @defaultValue 'transcribe' */
  task?: 'transcribe' | 'translate';
  /** Decode with <|notimestamps|>: one segment per window. @defaultValue false */
  withoutTimestamps?: boolean;
  /**
   * Tokens of the text before these windows (timestamps included, as OpenAI
   * whisper conditions on them), put after <|startofprev|> in every window's
   * prompt; the last max_target_positions/2 − 1 are used. @defaultValue none
   */
  previousTokens?: readonly number[];
  /**
   * A client's prompt (names, terms, a style to follow), encoded and put
   * after <|startofprev|> before previousTokens in every window; when the two
   * are too long together, the prompt's start is cut first. @defaultValue none
   */
  prompt?: string;
  /**
   * Time each word: one teacher-forced decoder pass per window over its text
   * fetches the alignment heads' cross-attention, which dynamic time warping
   * turns into token times (see decoding/alignment.ts). Needs
   * `alignment_heads` in generation_config.json and a decoder graph that
   * outputs `cross_attentions.*` (the Xenova exports do). @defaultValue false
   */
  wordTimestamps?: boolean;
}

export interface WindowResult {
  /** Segment times are relative to the window's start (seconds). */
  segments: Segment[];
  /** Given or detected; for a window the level gate skipped without a given language, 'en' (nothing was decoded). */
  language: string;
  /** Temperature of the accepted decode (0 unless fallback ran). */
  temperature: number;
  /** Whether the window was skipped as no speech. */
  noSpeech: boolean;
  /** Token ids generated for the accepted decode (without the prompt), for parity tests. */
  tokens: number[];
}

export interface WhisperEngine {
  readonly info: ModelInfo;
  /** Each window: 16 kHz mono float32, at most 30 s (padded to 30 s inside). Results in input order. */
  decodeWindows(windows: Float32Array[], options?: WindowDecodeOptions): Promise<WindowResult[]>;
  /** Releases the ONNX sessions (frees GPU memory). Idempotent. */
  release(): Promise<void>;
}

const GATE_FRAME = 480;

/**
 * A segment's last word ends at the segment's closing timestamp when that is
 * at most this much later: the cross-attention path leaves a word before a
 * pause early (on the long-form fixture with base, 0.1-0.2 s before the
 * speech stops, where the closing timestamp is within ±0.3 s of it).
 */
const LAST_WORD_EXTENSION_SEC = 0.6;

/** RMS level, in dBFS, of the loudest 30-ms frame of `samples` (-Infinity for digital silence). */
export function peakFrameDbfs(samples: Float32Array): number {
  let peak = 0;
  for (let from = 0; from < samples.length; from += GATE_FRAME) {
    const to = Math.min(samples.length, from + GATE_FRAME);
    let sum = 0;
    for (let i = from; i < to; i++) sum += samples[i] * samples[i];
    const mean = sum / (to - from);
    if (mean > peak) peak = mean;
  }
  return 10 * Math.log10(peak);
}

/** FNV-1a over a sparse sample of the window's bits: the same audio samples the same tokens, however it is batched. */
function windowHash(samples: Float32Array, seed: number): number {
  const bits = new Uint32Array(samples.buffer, samples.byteOffset, samples.length);
  let h = (0x811c9dc5 ^ seed) >>> 0;
  const step = Math.max(1, Math.floor(bits.length / 4096));
  for (let i = 0; i < bits.length; i += step) h = Math.imul(h ^ bits[i], 0x01000193) >>> 0;
  return Math.imul(h ^ bits.length, 0x01000193) >>> 0;
}

/**
 * Loads a Whisper model folder (configs, tokenizer, encoder and merged decoder)
 * and returns an engine that decodes 30-s windows.
 * @throws ValidationError on bad options; NotFoundError on missing files;
 * UnavailableError when no execution provider can open the model.
 */
export async function loadWhisperEngine(options: EngineOptions): Promise<WhisperEngine> {
  const batchSize = options.batchSize ?? 4;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new ValidationError(`batchSize must be a positive integer, got ${batchSize}`);
  const temperatures = options.temperatures ?? DEFAULT_TEMPERATURES;
  if (temperatures.length === 0 || temperatures.some((t) => !(t >= 0))) {
    throw new ValidationError('temperatures must be a non-empty list of numbers >= 0');
  }
  const thresholds: FallbackThresholds = { ...DEFAULT_THRESHOLDS, ...options.thresholds };
  const log = options.logger.child({ module: 'whisper-engine' });

  const config = loadModelConfig(options.modelDir);
  const tokenizer = loadTokenizer(options.modelDir);
  const features = createLogMelExtractor(config.features);
  if (features.nMels !== config.numMelBins) {
    throw new ValidationError(`preprocessor has ${features.nMels} mel bins but the model expects ${config.numMelBins}`);
  }
  const decodeLoopSetting = options.decodeLoop ?? 'auto';
  if (!['auto', 'graph', 'steps'].includes(decodeLoopSetting)) {
    throw new ValidationError(`unknown decode loop "${String(decodeLoopSetting)}": use auto, graph or steps`);
  }
  const sessions = await createWhisperSessions({
    modelDir: options.modelDir,
    variant: options.variant,
    executionProvider: options.executionProvider,
    threads: options.threads ?? availableParallelism(),
    graphs: options.graphs,
    preparedRoot: options.preparedRoot,
    searchGraph: decodeLoopSetting !== 'steps',
    decoderLayers: config.decoderLayers,
    logger: options.logger,
  });
  let encoder: ReturnType<typeof createEncoderRunner>;
  let decoder: ReturnType<typeof createDecoderRunner>;
  let search: ReturnType<typeof createSearchRunner> | undefined;
  let decodeLoop: 'graph' | 'steps';
  try {
    decodeLoop = chooseDecodeLoop(decodeLoopSetting, sessions.search !== undefined);
    encoder = createEncoderRunner(sessions.encoder, options.logger);
    decoder = createDecoderRunner(
      sessions.decoder,
      { heads: config.decoderAttentionHeads, headDim: config.dModel / config.decoderAttentionHeads },
      options.logger,
    );
    if (decodeLoop === 'graph') search = createSearchRunner(sessions.search!, options.logger);
  } catch (err) {
    await sessions.release();
    throw err;
  }
  log.info({ decodeLoop, prepared: sessions.prepared !== undefined }, 'decoding configured');

  const special = tokenizer.special;
  const gen = config.generation;
  const sot = gen.decoderStartTokenId ?? special.sot;
  const eot = gen.eosTokenId ?? special.eot;
  const noTimestamps = gen.noTimestampsTokenId ?? special.noTimestamps;
  const timestampBegin = noTimestamps + 1;
  const languages = new Map<string, number>();
  if (gen.langToId) for (const [token, id] of Object.entries(gen.langToId)) languages.set(token.replace(/^<\||\|>$/g, ''), id);
  else for (const [code, id] of special.languages) languages.set(code, id);
  const multilingual = gen.isMultilingual ?? languages.size > 1;
  const taskIds = {
    transcribe: gen.taskToId?.transcribe ?? special.transcribe,
    translate: gen.taskToId?.translate ?? special.translate,
  };
  // OpenAI's `_get_suppress_tokens`: the configured non-speech symbols plus control tokens the model must never emit.
  const suppressTokens = [
    ...new Set(
      [...gen.suppressTokens, taskIds.transcribe, taskIds.translate, sot, special.sotPrev, special.sotLm, special.noSpeech].filter(
        (id): id is number => id !== undefined && id >= 0,
      ),
    ),
  ];
  const beginSuppressTokens = gen.beginSuppressTokens.length > 0 ? gen.beginSuppressTokens : [tokenizer.idOf('Ġ') ?? 220, eot];
  // generation_config's max_initial_timestamp_index (1 = 0.02 s in these exports) predates OpenAI's 1.0 s default; use the latter.
  const maxInitialTimestampIndex = Math.round((options.maxInitialTimestamp ?? 1.0) / TIME_PRECISION);
  const maxNewTokens = Math.min(options.maxNewTokens ?? Math.floor(config.maxTargetPositions / 2), config.maxTargetPositions - 4);
  const seed = options.seed ?? 0;
  const gateDbfs = options.speechGateDbfs === undefined ? -45 : options.speechGateDbfs;

  const info: ModelInfo = {
    name: basename(options.modelDir),
    dir: options.modelDir,
    variant: sessions.variant,
    executionProvider: sessions.executionProvider,
    multilingual,
    prepared: sessions.prepared !== undefined,
    decodeLoop,
  };
  const searchRules: Omit<SearchRules, 'timestamps'> = {
    eot,
    timestampBegin,
    vocabSize: config.vocabSize,
    suppressTokens,
    maxInitialTimestampIndex,
    beginSuppressTokens,
  };
  let released = false;
  // Calls share one decoder cache: a second call waits for the one in flight.
  let queue: Promise<unknown> = Promise.resolve();

  const validate = (windows: Float32Array[], opts: WindowDecodeOptions): void => {
    windows.forEach((w, i) => {
      if (!(w instanceof Float32Array)) throw new ValidationError(`window ${i} is not a Float32Array`);
      if (w.length > features.nSamples) {
        throw new ValidationError(`window ${i} holds ${(w.length / SAMPLE_RATE).toFixed(2)} s; the most is ${features.nSamples / SAMPLE_RATE} s`);
      }
    });
    const task = opts.task ?? 'transcribe';
    if (task !== 'transcribe' && task !== 'translate') throw new ValidationError(`unknown task "${String(task)}": use transcribe or translate`);
    if (!multilingual) {
      if ((opts.language && opts.language !== 'en') || task === 'translate') {
        throw new ValidationError(`${info.name} is English-only: it takes no language other than "en" and no translate task`);
      }
    } else if (opts.language !== undefined && !languages.has(opts.language.toLowerCase())) {
      throw new ValidationError(`language "${opts.language}" is not supported by ${info.name}; use one of ${[...languages.keys()].join(', ')}`);
    }
    if (opts.wordTimestamps && wordsUnavailable) throw new ValidationError(`${info.name} cannot time words: ${wordsUnavailable}`);
  };

  const alignmentHeads = config.generation.alignmentHeads;
  const wordsUnavailable =
    alignmentHeads.length === 0
      ? 'its generation_config.json names no alignment_heads'
      : decoder.crossAttentionLayers === 0
        ? 'its decoder graph outputs no cross_attentions'
        : alignmentHeads.some(([layer, head]) => layer >= decoder.crossAttentionLayers || head >= config.decoderAttentionHeads)
          ? 'its alignment_heads name layers or heads the decoder does not have'
          : undefined;

  /**
   * Words of one window's segments (window times), as openai-whisper's
   * find_alignment: the start-of-transcript sequence, <|notimestamps|>, the
   * segments' text tokens and <|endoftext|> are fed in one pass; the
   * cross-attention of the alignment heads gives the token times and the
   * logits each text token's probability.
   */
  const windowWords = async (
    rowStates: ort.Tensor,
    sotSequence: readonly number[],
    timed: { segment: Segment; textTokens: number[] }[],
    samples: number,
    language: string,
  ): Promise<Segment[]> => {
    const text = timed.flatMap((t) => t.textTokens);
    if (text.length === 0) return timed.map((t) => ({ ...t.segment, words: [] }));
    const tokens = [...sotSequence, noTimestamps, ...text, eot];
    const layers = [...new Set(alignmentHeads.map(([layer]) => layer))];
    const { logits, attentions } = await decoder.attend(rowStates, tokens, layers);
    const heads = alignmentHeads.map(([layer, head]) => {
      const a = attentions.get(layer)!;
      return a.data.subarray(head * a.positions * a.frames, (head + 1) * a.positions * a.frames);
    });
    const totalFrames = attentions.get(layers[0])!.frames;
    const jumpTimes = tokenJumpTimes({
      heads,
      tokens: tokens.length,
      totalFrames,
      frames: Math.floor(Math.floor(samples / (features.nSamples / features.nFrames)) / 2),
      skipStart: sotSequence.length,
      skipEnd: 1,
    });
    const tokenProbs = text.map((token, k) => {
      // The logits at the token before it, over the text vocabulary (ids below <|endoftext|>).
      const row = logits.data.subarray((sotSequence.length + k) * logits.vocab, (sotSequence.length + k) * logits.vocab + eot);
      let max = -Infinity;
      for (const v of row) if (v > max) max = v;
      let sum = 0;
      for (const v of row) sum += Math.exp(v - max);
      return Math.exp(row[token] - max) / sum;
    });
    const words = alignWords({
      segments: timed.map((t) => ({ start: t.segment.start, end: t.segment.end, textTokens: t.textTokens })),
      jumpTimes,
      tokenProbs,
      decode: (ids) => tokenizer.decode(ids),
      language,
    });
    return timed.map((t, k) => {
      const own = words[k];
      const last = own.at(-1);
      let end = t.segment.end;
      if (last && last.end > end) {
        // As openai-whisper, the segment takes its last word's end, here up to the next segment's start.
        end = Math.max(end, Math.min(last.end, timed[k + 1]?.segment.start ?? samples / SAMPLE_RATE));
      } else if (last && end - last.end <= LAST_WORD_EXTENSION_SEC) {
        last.end = end;
      }
      return { ...t.segment, end, words: clampWords(own, t.segment.start, end) };
    });
  };

  const detectLanguages = async (states: ort.Tensor, rows: number): Promise<string[]> => {
    const logits = await decoder.logitsOnly(states, Array.from({ length: rows }, () => [sot]));
    const langIds = [...languages.entries()];
    const scores = new Float32Array(langIds.length);
    return Array.from({ length: rows }, (_, r) => {
      const at = r * logits.positions * logits.vocab;
      langIds.forEach(([, id], i) => (scores[i] = logits.data[at + id]));
      return langIds[argmax(scores)][0];
    });
  };
  const languageTokens = [...languages.values()];
  const languageOfToken = new Map([...languages.entries()].map(([code, id]) => [id, code]));

  const decodeGroup = async (group: Float32Array[], opts: WindowDecodeOptions): Promise<WindowResult[]> => {
    const n = group.length;
    const input = new Float32Array(n * features.nMels * features.nFrames);
    for (let i = 0; i < n; i++) {
      features.extract(group[i], input.subarray(i * features.nMels * features.nFrames, (i + 1) * features.nMels * features.nFrames));
    }
    const states = await encoder.encode(input, n, features.nMels, features.nFrames);
    const task = opts.task ?? 'transcribe';
    const timestamps = !opts.withoutTimestamps;
    const given = multilingual ? opts.language?.toLowerCase() : 'en';
    const detect = !given;
    // The graph detects the language itself, in the slot that holds -1; the step loop asks first.
    const langs: (string | undefined)[] = detect && !search ? await detectLanguages(states, n) : group.map(() => given);
    const before = [...(opts.prompt ? tokenizer.encode(opts.prompt) : []), ...(opts.previousTokens ?? [])].filter((id) => id !== eot);
    const context =
      before.length > 0 && special.sotPrev !== undefined ? [special.sotPrev, ...before.slice(-(Math.floor(config.maxTargetPositions / 2) - 1))] : [];
    const prompts = langs.map((lang) => {
      const prompt = [...context, ...(multilingual ? [sot, lang ? languages.get(lang)! : -1, taskIds[task]!] : [sot])];
      if (!timestamps) prompt.push(noTimestamps);
      return prompt;
    });
    const rules: LogitRules = {
      eot,
      noTimestamps,
      timestampBegin,
      suppressTokens,
      beginSuppressTokens,
      maxInitialTimestampIndex,
      timestamps,
    };

    const accepted: (RowDecode & { temperature: number })[] = new Array(n);
    let pending = group.map((_, i) => i);
    for (let t = 0; t < temperatures.length && pending.length > 0; t++) {
      const temperature = temperatures[t];
      const rowStates = pending.length === n ? states : selectRows(states, pending);
      const maxTokens = Math.min(maxNewTokens, config.maxTargetPositions - prompts[0].length);
      let rows: RowDecode[];
      // ONNX Runtime's beam search needs room for two tokens; shorter budgets use the step loop.
      if (search && temperature === 0 && maxTokens >= 2) {
        const decoded = await search.decode(rowStates, pending.map((i) => prompts[i]), { ...searchRules, timestamps }, maxTokens, languageTokens);
        rows = decoded.map((row, k) => {
          const i = pending[k];
          if (!langs[i]) {
            langs[i] = languageOfToken.get(row.languageToken) ?? 'en';
            prompts[i] = prompts[i].map((id) => (id === -1 ? row.languageToken : id));
          }
          return rowFromSearch(row, { eot });
        });
      } else {
        rows = await decodeRows({
          decoder,
          encoderStates: rowStates,
          prompts: pending.map((i) => prompts[i]),
          rules,
          temperature,
          randoms: pending.map((i) => seededRandom(windowHash(group[i], seed) ^ Math.imul(t + 1, 0x9e3779b1))),
          maxNewTokens: maxTokens,
          noSpeechToken: special.noSpeech,
          sotIndex: context.length,
        });
      }
      const retry: number[] = [];
      rows.forEach((row, k) => {
        const i = pending[k];
        const text = tokenizer.decode(row.tokens);
        const quality = {
          compressionRatio: compressionRatio(text),
          avgLogprob: row.avgLogprob,
          noSpeechProb: row.noSpeechProb,
          looped: row.finish === 'loop',
        };
        const last = t === temperatures.length - 1;
        if (!last && needsFallback(quality, thresholds)) {
          log.debug({ window: i, temperature, ...quality }, 'decode failed quality checks, falling back');
          retry.push(i);
        } else {
          accepted[i] = { ...row, temperature };
        }
      });
      pending = retry;
    }

    const results: WindowResult[] = [];
    for (let i = 0; i < n; i++) {
      const row = accepted[i];
      const noSpeechProb = Number.isNaN(row.noSpeechProb) ? 0 : row.noSpeechProb;
      const skip = isNoSpeech({ avgLogprob: row.avgLogprob, noSpeechProb }, thresholds);
      const duration = group[i].length / SAMPLE_RATE;
      const timed = skip
        ? []
        : tokensToTimedSegments(row.tokens, row.logprobs, {
            timestampBegin: timestamps ? timestampBegin : Number.MAX_SAFE_INTEGER,
            eot,
            decode: (ids) => tokenizer.decode(ids),
            duration,
            noSpeechProb,
          });
      let segments = timed.map((t) => t.segment);
      if (opts.wordTimestamps && timed.length > 0) {
        const sotSequence = prompts[i].slice(context.length).filter((id) => id !== noTimestamps);
        segments = await windowWords(n === 1 ? states : selectRows(states, [i]), sotSequence, timed, group[i].length, langs[i]!);
      }
      results.push({ segments, language: langs[i]!, temperature: row.temperature, noSpeech: skip, tokens: row.tokens });
    }
    return results;
  };

  return {
    info,
    decodeWindows(windows, opts = {}) {
      const run = async (): Promise<WindowResult[]> => {
        if (released) throw new ValidationError('engine has been released');
        validate(windows, opts);
        const results: WindowResult[] = new Array(windows.length);
        const speech: number[] = [];
        windows.forEach((w, i) => {
          if (gateDbfs !== null && peakFrameDbfs(w) < gateDbfs) {
            results[i] = { segments: [], language: opts.language?.toLowerCase() ?? 'en', temperature: 0, noSpeech: true, tokens: [] };
          } else {
            speech.push(i);
          }
        });
        for (let from = 0; from < speech.length; from += batchSize) {
          const started = performance.now();
          const indices = speech.slice(from, from + batchSize);
          const decoded = await decodeGroup(indices.map((i) => windows[i]), opts);
          indices.forEach((i, k) => (results[i] = decoded[k]));
          log.debug({ windows: indices.length, ms: Math.round(performance.now() - started) }, 'batch decoded');
        }
        return results;
      };
      const result = queue.then(run, run);
      queue = result.catch(() => undefined);
      return result;
    },
    async release() {
      released = true;
      await queue;
      await sessions.release();
    },
  };
}
