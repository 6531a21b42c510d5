/**
 * The inference core's facade. The main thread decodes (ffmpeg runs as a
 * child process writing a temporary file), plans chunks and orchestrates;
 * VAD, log-mel, encoder and decoder all run in one worker thread
 * (inference.thread.ts), which receives chunk audio as transferred
 * Float32Arrays.
 */
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Logger } from '../core/logger.js';
import { RUNS_COMPILED, siblingModule } from '../core/package-files.js';
import {
  type AppError,
  BadAudioError,
  ConflictError,
  InsufficientStorageError,
  NotFoundError,
  UnavailableError,
  ValidationError,
} from '../core/errors.js';
import { rm } from 'node:fs/promises';
import { openPcmFile, pcmFromSamples, type PcmSource } from './audio/decode.js';
import type { DiarizationOutcome, DiarizeRequest } from './diarization/diarizer.js';
import { DEFAULT_SPEECH_PAD_MS, type VadOptions } from './audio/vad.js';
import {
  chunkStretches,
  chunkWindowLayout,
  segmentToAudioTimes,
  uncoveredSpeech,
  windowTimeToAudioTime,
  planFixedChunks,
  planVadChunks,
  type FixedPlanOptions,
  type VadPlanOptions,
} from './chunking.js';
import type { WindowResult } from './engine.js';
import { clampWords } from './decoding/words.js';
import type {
  DecodedFile,
  SerializedError,
  SourceRef,
  ThreadData,
  ThreadMessage,
  ThreadRequest,
  ThreadResults,
} from './inference.thread.js';
import { resolveModelDir } from './model/resolve.js';
import {
  SAMPLE_RATE,
  type AudioChunk,
  type AudioInput,
  type ChunkPlan,
  type ChunkResult,
  type ModelInfo,
  type Segment,
  type TranscribeOptions,
  type Transcriber,
} from './types.js';

export interface TranscriberOptions {
  /** Model name ('tiny', 'base', 'small', …) or model folder. @defaultValue 'tiny' */
  model?: string;
  /** Folder of operator-installed models, searched before the installed `sts-whisper-*` packages. @defaultValue './models' */
  modelsDir?: string;
  /** @defaultValue 'q8' */
  variant?: 'q8' | 'fp16' | 'fp32';
  /** @defaultValue 'auto' (CUDA when available, else CPU) */
  executionProvider?: 'auto' | 'cpu' | 'cuda' | 'webgpu';
  /** Prepared graphs when present ('auto'), required ('prepared'), or never ('original'). @defaultValue 'auto' */
  graphs?: 'auto' | 'prepared' | 'original';
  /** Folder of prepared graphs (npm run prepare-models). @defaultValue `<modelsDir>/prepared` */
  preparedDir?: string;
  /** Greedy decoding inside ONNX Runtime ('graph'), token by token ('steps'), or the faster for the provider. @defaultValue 'auto' */
  decodeLoop?: 'auto' | 'graph' | 'steps';
  /** ONNX intra-op threads for Whisper. @defaultValue os.availableParallelism() */
  threads?: number;
  /**
   * Chunks decoded together in one encoder/decoder batch; results are yielded
   * per batch. 1 on CPU: batches barely help there and the q8 decoder's
   * answers shift with the batch (long-form WER 11.6 % at 1, 13.8 % at 4).
   * @defaultValue 1
   */
  batchSize?: number;
  /**
   * Prompt each window with the text before it (see TranscribeOptions). Off by
   * default: on the long-form fixture it raised base's WER from 12.5 % to 14.3 %
   * (a wrong window's text drags the next one along). @defaultValue false
   */
  conditionOnPreviousText?: boolean;
  /** 'vad' cuts chunks at pauses found by Silero VAD; 'fixed' uses consecutive 30-s windows. @defaultValue 'vad' */
  planner?: 'vad' | 'fixed';
  /** Silero thresholds; see VadOptions for defaults. */
  vad?: VadOptions;
  /** VAD chunk planner settings; see VadPlanOptions for defaults. */
  chunking?: VadPlanOptions;
  /** Fixed planner settings. @defaultValue { windowSec: 30, silenceRms: 1e-4 } */
  fixed?: FixedPlanOptions;
  /** ffmpeg binary. @defaultValue the binary of `@ffmpeg-installer/ffmpeg` */
  ffmpegPath?: string;
  /** ffprobe binary. @defaultValue the binary of `@ffprobe-installer/ffprobe` */
  ffprobePath?: string;
  /** ffmpeg is killed after this many milliseconds. @defaultValue 1_800_000 */
  decodeTimeoutMs?: number;
  /** Folder for temporary decoded audio. @defaultValue os.tmpdir() */
  tempDir?: string;
  /** Longest audio decoded, in seconds; longer input is refused as BadAudioError. @defaultValue no limit */
  maxDurationSec?: number;
  /** Free space the temp folder keeps after decoded audio is written. @defaultValue 256 MiB */
  minFreeBytes?: number;
  /**
   * Nice value (0–19) of the inference thread and its ONNX threads, so the
   * main thread's event loop wins the CPU on a busy host; 0 keeps the
   * process priority. @defaultValue 10
   */
  inferenceNice?: number;
  /** Speaker diarization models; the ones in the repository's models/diarization when omitted. */
  diarizationModelDir?: string;
  /** How long release() waits for the thread to free its sessions before terminating it. @defaultValue 30_000 */
  releaseTimeoutMs?: number;
  logger: Logger;
}

const ERROR_TYPES: Record<string, new (message: string, options?: { details?: Record<string, unknown> }) => AppError> = {
  BadAudioError,
  NotFoundError,
  ValidationError,
  UnavailableError,
  ConflictError,
  InsufficientStorageError,
};

function deserializeError(error: SerializedError): Error {
  const Type = ERROR_TYPES[error.name];
  if (Type) return new Type(error.message, { details: error.details });
  const err = new Error(error.message);
  err.name = error.name;
  return err;
}

const PINO_LEVELS: Record<number, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

/**
 * Starts the inference thread. Compiled code (npm start) starts its compiled
 * module. From the sources (tsx, tests) a worker inherits neither tsx nor
 * vitest's transform, so the thread registers tsx's ESM loader first.
 */
function startThread(data: ThreadData): Worker {
  const entry = siblingModule(import.meta.url, './inference.thread');
  const tsxApi = RUNS_COMPILED ? undefined : tsxEsmApiUrl();
  if (!tsxApi) return new Worker(entry, { workerData: data, execArgv: [...process.execArgv] });
  const bootstrap = [
    `import(${JSON.stringify(tsxApi)})`,
    `  .then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}); })`,
    '  .catch((err) => setImmediate(() => { throw err; }));',
  ].join('\n');
  return new Worker(bootstrap, { eval: true, workerData: data, execArgv: [...process.execArgv] });
}

/** URL of tsx's ESM API module (`tsx/esm/api`, import condition), or undefined when tsx is absent. */
function tsxEsmApiUrl(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    const manifestPath = require.resolve('tsx/package.json');
    const manifest = require(manifestPath) as { exports: Record<string, { import?: { default?: string } }> };
    const target = manifest.exports['./esm/api']?.import?.default;
    return target ? pathToFileURL(join(dirname(manifestPath), target)).href : undefined;
  } catch {
    return undefined;
  }
}

type Pending = {
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
};

/** Request/response over the worker's message port. */
class ThreadClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private failure?: Error;

  constructor(
    readonly worker: Worker,
    private readonly log: Logger,
  ) {
    worker.on('message', (message: ThreadMessage) => this.onMessage(message));
    worker.on('error', (err) => this.fail(new UnavailableError(`inference thread crashed: ${err.message}`, { cause: err })));
    worker.on('exit', (code) => this.fail(new UnavailableError(`inference thread exited (code ${code})`)));
  }

  private onMessage(message: ThreadMessage): void {
    if ('log' in message) return this.relayLog(message.log);
    const waiter = this.pending.get(message.id);
    if (!waiter) return;
    this.pending.delete(message.id);
    if (message.ok) waiter.resolve(message.value);
    else waiter.reject(deserializeError(message.error));
  }

  private relayLog(line: string): void {
    try {
      const { level, msg, time: _time, pid: _pid, hostname: _hostname, ...fields } = JSON.parse(line) as Record<string, unknown>;
      const method = PINO_LEVELS[Number(level)] ?? 'info';
      this.log[method](fields, typeof msg === 'string' ? msg : '');
    } catch {
      this.log.warn({ line }, 'unparsable log line from the inference thread');
    }
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const waiter of this.pending.values()) waiter.reject(err);
    this.pending.clear();
  }

  get alive(): boolean {
    return !this.failure;
  }

  /**
   * Sends a request. Aborting `signal` rejects at once and asks the thread to
   * cancel it (decoding stops; an ONNX batch runs to its end). A result that
   * still arrives after the abort goes to `onLate`, to free what it holds.
   */
  call<Op extends ThreadRequest['op']>(
    request: Omit<Extract<ThreadRequest, { op: Op }>, 'id'>,
    transfer: ArrayBuffer[] = [],
    signal?: AbortSignal,
    onLate?: (value: ThreadResults[Op]) => void,
  ): Promise<ThreadResults[Op]> {
    if (this.failure) return Promise.reject(this.failure);
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    const id = this.nextId++;
    return new Promise<ThreadResults[Op]>((resolvePromise, reject) => {
      let abandoned = false;
      const onAbort = () => {
        abandoned = true;
        reject(abortReason(signal!));
        if (this.pending.has(id) && !this.failure) this.worker.postMessage({ op: 'cancel', target: id, id: this.nextId++ });
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, {
        resolve: (value) => {
          signal?.removeEventListener('abort', onAbort);
          if (abandoned) onLate?.(value as ThreadResults[Op]);
          else resolvePromise(value as ThreadResults[Op]);
        },
        reject: (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      });
      this.worker.postMessage({ ...request, id }, transfer);
    });
  }
}

/** A segment's window times mapped to the audio; its words too, kept inside it and in order. */
function toAudioSegment(chunk: AudioChunk, segment: Segment): Segment {
  const times = segmentToAudioTimes(chunk, segment.start, segment.end);
  if (!segment.words) return { ...segment, ...times };
  const round = (t: number) => Math.round(t * 1000) / 1000;
  const mapped = segment.words.map((w) => ({ ...w, start: round(windowTimeToAudioTime(chunk, w.start)), end: round(windowTimeToAudioTime(chunk, w.end)) }));
  // Clamped after rounding, so that no word pokes out of its segment by a rounding error.
  return { ...segment, ...times, words: clampWords(mapped, times.start, times.end) };
}

/**
 * How far inside its stretch of speech a word may start or end and still be
 * taken to open or close it. The cross-attention path ends the word before a
 * pause 0.1-0.2 s early (and now and then starts the word after one late),
 * where Silero finds the speech edges within a frame or two. Measured on the
 * long-form fixture with base: 69/79 clips' first and last words within the
 * issue's bounds without the snap, 76/79 with it.
 */
const SPEECH_EDGE_SNAP_SEC = 0.6;

/**
 * The first word of each stretch of VAD speech starts no later, and its last
 * word ends no earlier, than the speech does (the stretch's edges less the
 * VAD's pad), when they are that close; segments widen to hold them, never
 * over a neighbour.
 */
export function snapWordsToSpeechEdges(chunk: AudioChunk, segments: Segment[], padSec: number): void {
  const words = segments.flatMap((segment, k) => (segment.words ?? []).map((word) => ({ word, k })));
  const round = (t: number) => Math.round(t * 1000) / 1000;
  for (const stretch of chunkStretches(chunk)) {
    const inside = words.filter(({ word }) => word.end > stretch.start && word.start < stretch.end);
    const first = inside[0];
    const last = inside.at(-1);
    if (first && first.word.start > stretch.start + padSec && first.word.start <= stretch.start + SPEECH_EDGE_SNAP_SEC) {
      const before = words[words.indexOf(first) - 1]?.word.end ?? -Infinity;
      const start = Math.max(stretch.start + padSec, before, first.k > 0 ? segments[first.k - 1].end : -Infinity);
      if (start < first.word.start) {
        first.word.start = round(start);
        segments[first.k].start = Math.min(segments[first.k].start, first.word.start);
      }
    }
    if (last && last.word.end < stretch.end - padSec && last.word.end >= stretch.end - SPEECH_EDGE_SNAP_SEC) {
      const after = words[words.indexOf(last) + 1]?.word.start ?? Infinity;
      const end = Math.min(stretch.end - padSec, after, segments[last.k + 1]?.start ?? Infinity);
      if (end > last.word.end) {
        last.word.end = round(end);
        segments[last.k].end = Math.max(segments[last.k].end, last.word.end);
      }
    }
  }
}

/** `speechPadSec`: the VAD pad around the chunk's stretches, when they are VAD speech (word ends snap to them); else undefined. */
function toChunkResult(chunk: AudioChunk, result: WindowResult, speechPadSec?: number): ChunkResult {
  const segments = result.noSpeech ? [] : result.segments.map((s) => toAudioSegment(chunk, s));
  if (speechPadSec !== undefined) snapWordsToSpeechEdges(chunk, segments, speechPadSec);
  return { chunk, segments, language: result.language, temperature: result.temperature, tokens: result.tokens };
}

/**
 * The tokens the next batch is conditioned on: this batch's decodes appended
 * to the running context, as OpenAI whisper keeps `all_tokens`; a decode that
 * needed a temperature above 0.5 starts it afresh (its text is likely wrong,
 * and conditioning on it spreads the error), as does a gap of skipped chunks.
 */
function nextContext(context: number[], results: readonly ChunkResult[], batch: readonly AudioChunk[]): number[] {
  let next = context;
  results.forEach((result, k) => {
    const contiguous = k === 0 || batch[k].index === batch[k - 1].index + 1;
    if (result.temperature > 0.5 || !contiguous) next = [];
    else next = [...next, ...(result.tokens ?? [])];
  });
  return next.slice(-MAX_CONTEXT_TOKENS);
}

/** More than the decoder can take (223 after <|startofprev|>); the engine trims to its model. */
const MAX_CONTEXT_TOKENS = 448;

/** A chunk's window: its pieces' samples one after another, with the join silences between them. */
async function readChunk(pcm: PcmSource, chunk: AudioChunk): Promise<Float32Array> {
  const layout = chunkWindowLayout(chunk);
  if (layout.parts.length === 1) return pcm.read(layout.parts[0].from, layout.parts[0].to);
  const window = new Float32Array(layout.length);
  const parts = await Promise.all(layout.parts.map((p) => pcm.read(p.from, p.to)));
  layout.parts.forEach((p, k) => window.set(parts[k], p.at));
  return window;
}

class ThreadedTranscriber implements Transcriber {
  private releasing?: Promise<void>;

  constructor(
    readonly model: ModelInfo,
    private readonly thread: ThreadClient,
    private readonly options: TranscriberOptions,
    private readonly log: Logger,
  ) {}

  private get batchSize(): number {
    return this.options.batchSize ?? 1;
  }

  private async open(audio: AudioInput, signal?: AbortSignal): Promise<PcmSource> {
    if (this.releasing) throw new UnavailableError('transcriber was released');
    if (audio instanceof Float32Array) return pcmFromSamples(audio);
    if (typeof audio !== 'string') throw new ValidationError('audio must be a file path or a Float32Array of 16 kHz samples');
    const removeDir = (file: DecodedFile) => void rm(file.dir, { recursive: true, force: true }).catch(() => {});
    const file = await this.thread.call<'audio'>({ op: 'audio', path: audio }, [], signal, removeDir);
    return openPcmFile(file.filePath, file.dir);
  }

  private sourceRef(pcm: PcmSource): { ref: SourceRef; transfer: ArrayBuffer[] } {
    if (pcm.filePath) return { ref: { kind: 'file', path: pcm.filePath }, transfer: [] };
    const copy = pcm.samples!.slice();
    return { ref: { kind: 'samples', samples: copy }, transfer: [copy.buffer] };
  }

  private async planSource(pcm: PcmSource, signal?: AbortSignal): Promise<ChunkPlan> {
    const started = performance.now();
    const { ref, transfer } = this.sourceRef(pcm);
    let plan: ChunkPlan;
    if ((this.options.planner ?? 'vad') === 'vad') {
      const vad = await this.thread.call<'vad'>({ op: 'vad', source: ref, options: this.options.vad ?? {} }, transfer, signal);
      plan = planVadChunks({ durationSec: pcm.durationSec, regions: vad.regions, frames: vad.frames }, this.options.chunking);
    } else {
      const fixed = { windowSec: 30, silenceRms: 1e-4, ...this.options.fixed };
      const rms = await this.thread.call<'rms'>(
        { op: 'rms', source: ref, windowSamples: Math.round(fixed.windowSec * SAMPLE_RATE) },
        transfer,
        signal,
      );
      plan = planFixedChunks({ durationSec: pcm.durationSec, windowRms: rms }, fixed);
    }
    const planned = plan.chunks.reduce((sum, c) => sum + (c.end - c.start), 0);
    this.log.info(
      {
        planner: plan.planner,
        chunks: plan.chunks.length,
        durationSec: Math.round(plan.durationSec * 10) / 10,
        plannedSec: Math.round(planned * 10) / 10,
        ms: Math.round(performance.now() - started),
      },
      'chunk plan ready',
    );
    return plan;
  }

  async plan(audio: AudioInput, options: { signal?: AbortSignal } = {}): Promise<ChunkPlan> {
    const pcm = await this.open(audio, options.signal);
    try {
      return await this.planSource(pcm, options.signal);
    } finally {
      await pcm.dispose();
    }
  }

  /** Speaker turns of the audio: decoded again here, diarized in the inference thread. */
  async diarize(audio: AudioInput, options: DiarizeRequest = {}): Promise<DiarizationOutcome> {
    const { signal, ...request } = options;
    const pcm = await this.open(audio, signal);
    try {
      const { ref, transfer } = this.sourceRef(pcm);
      return await this.thread.call<'diarize'>({ op: 'diarize', source: ref, options: request }, transfer, signal);
    } finally {
      await pcm.dispose();
    }
  }

  async *transcribe(audio: AudioInput, options: TranscribeOptions = {}): AsyncIterable<ChunkResult> {
    const { signal } = options;
    if (signal?.aborted) throw abortReason(signal);
    // One decode per call: planning and chunk reads share this file.
    const pcm = await this.open(audio, signal);
    try {
      const plan = options.plan ?? (await this.planSource(pcm, signal));
      if (Math.abs(plan.durationSec - pcm.durationSec) > 0.05) {
        throw new ValidationError(
          `the plan is for ${plan.durationSec.toFixed(2)} s of audio but this input is ${pcm.durationSec.toFixed(2)} s long`,
        );
      }
      await options.onPlan?.(plan);
      if (signal?.aborted) throw abortReason(signal);
      const skip = new Set(options.skipChunks ?? []);
      const todo = plan.chunks.filter((c) => !skip.has(c.index));
      const decodeOptions = {
        language: options.language,
        task: options.task,
        prompt: options.prompt,
        wordTimestamps: options.wordTimestamps ?? false,
      };
      const conditioned = options.conditionOnPreviousText ?? this.options.conditionOnPreviousText ?? false;
      let context: number[] = [];
      const readBatch = (from: number) =>
        Promise.all(todo.slice(from, from + this.batchSize).map((c) => readChunk(pcm, c)));
      let nextWindows = todo.length ? readBatch(0) : undefined;
      for (let from = 0; from < todo.length; from += this.batchSize) {
        if (signal?.aborted) throw abortReason(signal);
        const batch = todo.slice(from, from + this.batchSize);
        const windows = await nextWindows!;
        const started = performance.now();
        const resultsPromise = this.thread.call<'decode'>(
          { op: 'decode', windows, options: { ...decodeOptions, previousTokens: conditioned ? context : undefined } },
          windows.map((w) => w.buffer as ArrayBuffer),
          signal,
        );
        // Read the next batch's audio while this one decodes.
        nextWindows = from + this.batchSize < todo.length ? readBatch(from + this.batchSize) : undefined;
        nextWindows?.catch(() => {});
        const speechPadSec = plan.planner === 'vad' ? (this.options.vad?.speechPadMs ?? DEFAULT_SPEECH_PAD_MS) / 1000 : undefined;
        const results = (await resultsPromise).map((result, k) => toChunkResult(batch[k], result, speechPadSec));
        await this.recoverSkippedSpeech(pcm, results, decodeOptions, signal);
        context = nextContext(context, results, batch);
        const ms = Math.round(performance.now() - started);
        for (const result of results) {
          if (signal?.aborted) throw abortReason(signal);
          this.log.debug(
            { chunk: result.chunk.index, start: result.chunk.start, end: result.chunk.end, segments: result.segments.length, batchMs: ms },
            'chunk transcribed',
          );
          yield result;
        }
      }
    } finally {
      await pcm.dispose();
    }
  }

  /**
   * Decodes again the speech that no segment of its chunk covers (a packed
   * window where Whisper stopped early or skipped an utterance) and adds what
   * it finds to the chunk's segments, in time order. One extra pass at most.
   */
  private async recoverSkippedSpeech(
    pcm: PcmSource,
    results: ChunkResult[],
    options: Pick<TranscribeOptions, 'language' | 'task' | 'prompt' | 'wordTimestamps'>,
    signal?: AbortSignal,
  ): Promise<void> {
    const retries = results.flatMap((result, k) => uncoveredSpeech(result.chunk, result.segments).map((window) => ({ k, window })));
    if (retries.length === 0) return;
    for (let from = 0; from < retries.length; from += this.batchSize) {
      if (signal?.aborted) throw abortReason(signal);
      const group = retries.slice(from, from + this.batchSize);
      const windows = await Promise.all(group.map((r) => readChunk(pcm, r.window)));
      const decoded = await this.thread.call<'decode'>(
        { op: 'decode', windows, options },
        windows.map((w) => w.buffer as ArrayBuffer),
        signal,
      );
      group.forEach(({ k, window }, i) => {
        const found = toChunkResult(window, decoded[i]).segments;
        if (found.length === 0) return;
        results[k].segments = [...results[k].segments, ...found].sort((a, b) => a.start - b.start || a.end - b.end);
      });
    }
    this.log.debug({ windows: retries.length }, 'decoded speech the first pass skipped');
  }

  release(): Promise<void> {
    this.releasing ??= this.doRelease();
    return this.releasing;
  }

  private async doRelease(): Promise<void> {
    const timeoutMs = this.options.releaseTimeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      if (this.thread.alive) {
        await Promise.race([
          this.thread.call<'release'>({ op: 'release' }),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`inference thread did not release within ${timeoutMs} ms`)), timeoutMs);
          }),
        ]);
        this.log.info({ model: this.model.name }, 'onnx sessions released');
      }
    } catch (err) {
      this.log.warn({ err }, 'releasing onnx sessions failed; terminating the inference thread');
    } finally {
      clearTimeout(timer);
      await this.thread.worker.terminate();
    }
  }
}

/**
 * Resolves the model, starts the inference thread, loads Whisper and Silero
 * in it, and returns the {@link Transcriber}. Throws NotFoundError for an
 * unknown model; the thread is stopped if loading fails.
 */
export async function createTranscriber(options: TranscriberOptions): Promise<Transcriber> {
  const log = options.logger.child({ module: 'transcriber' });
  const batchSize = options.batchSize ?? 1;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new ValidationError(`batchSize must be a positive integer, got ${batchSize}`);
  if (options.planner && !['vad', 'fixed'].includes(options.planner)) {
    throw new ValidationError(`planner must be 'vad' or 'fixed', got ${String(options.planner)}`);
  }
  const modelsDir = resolve(options.modelsDir ?? 'models');
  const modelDir = resolveModelDir(options.model ?? 'tiny', { modelsDir });
  const started = performance.now();
  const worker = startThread({
    engine: {
      modelDir,
      variant: options.variant,
      executionProvider: options.executionProvider,
      graphs: options.graphs,
      preparedRoot: resolve(options.preparedDir ?? join(modelsDir, 'prepared')),
      decodeLoop: options.decodeLoop,
      threads: options.threads,
      batchSize,
    },
    audio: {
      ffmpegPath: options.ffmpegPath,
      ffprobePath: options.ffprobePath,
      decodeTimeoutMs: options.decodeTimeoutMs,
      tempDir: options.tempDir,
      maxDurationSec: options.maxDurationSec,
      minFreeBytes: options.minFreeBytes,
    },
    ...(options.diarizationModelDir ? { diarizationModelDir: resolve(options.diarizationModelDir) } : {}),
    logLevel: options.logger.level,
    nice: options.inferenceNice ?? 10,
  });
  const thread = new ThreadClient(worker, options.logger.child({ thread: 'inference' }));
  try {
    const model = await thread.call<'init'>({ op: 'init' });
    log.info(
      {
        model: model.name,
        dir: model.dir,
        variant: model.variant,
        executionProvider: model.executionProvider,
        prepared: model.prepared,
        decodeLoop: model.decodeLoop,
        ms: Math.round(performance.now() - started),
      },
      'transcriber ready',
    );
    return new ThreadedTranscriber(model, thread, options, log);
  } catch (err) {
    await worker.terminate();
    throw err;
  }
}
