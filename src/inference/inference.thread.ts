/**
 * The inference thread (a worker_thread): hosts the Whisper engine and
 * Silero VAD so that every ONNX run and all heavy DSP stay off the main
 * event loop. Requests are served one at a time, in arrival order.
 * Log lines are posted to the main thread, which writes them to its logger.
 */
import { setPriority } from 'node:os';
import { dirname } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import pino from 'pino';
import type { Logger } from '../core/logger.js';
import { loadWhisperEngine, type WhisperEngine, type WindowDecodeOptions, type WindowResult } from './engine.js';
import { AudioDecoder, type DecodeOptions, openPcmFile, pcmFromSamples, sweepStaleTempDirs, type PcmSource } from './audio/decode.js';
import type { AudioProbe } from './audio/probe.js';
import { SileroVad, windowRms, type VadOptions, type VadResult } from './audio/vad.js';
import { Diarizer, type DiarizationOutcome, type DiarizeRequest } from './diarization/diarizer.js';
import type { ModelInfo } from './types.js';

/** What the main thread passes at start. */
export interface ThreadData {
  engine: {
    modelDir: string;
    variant?: 'q8' | 'fp16' | 'fp32';
    executionProvider?: 'auto' | 'cpu' | 'cuda' | 'webgpu';
    graphs?: 'auto' | 'prepared' | 'original';
    preparedRoot?: string;
    decodeLoop?: 'auto' | 'graph' | 'steps';
    threads?: number;
    batchSize?: number;
  };
  /** ffmpeg settings: decoding runs here too, because forking a process with a loaded model stalls its thread for tens of ms. */
  audio: Omit<DecodeOptions, 'logger'>;
  /** Silero model file; the bundled one when omitted. */
  vadModelPath?: string;
  /** Diarization models (loaded at the first 'diarize' request); the bundled ones when omitted. */
  diarizationModelDir?: string;
  /** pino level of the main thread's logger. */
  logLevel: string;
  /** Nice value for this thread and the ONNX threads it creates; 0 leaves the priority alone. */
  nice: number;
}

/** Audio the thread reads itself: a raw float32 file, or samples transferred to it. */
export type SourceRef = { kind: 'file'; path: string } | { kind: 'samples'; samples: Float32Array };

export type ThreadRequest =
  | { id: number; op: 'init' }
  | { id: number; op: 'audio'; path: string }
  | { id: number; op: 'cancel'; target: number }
  | { id: number; op: 'vad'; source: SourceRef; options: VadOptions }
  | { id: number; op: 'rms'; source: SourceRef; windowSamples: number }
  | { id: number; op: 'decode'; windows: Float32Array[]; options: WindowDecodeOptions }
  | { id: number; op: 'diarize'; source: SourceRef; options: Omit<DiarizeRequest, 'signal'> }
  | { id: number; op: 'release' };

/** Decoded audio left in a temporary file that the main thread now owns. */
export interface DecodedFile {
  filePath: string;
  /** Temporary folder to delete when done. */
  dir: string;
  probe: AudioProbe;
}

export interface ThreadResults {
  init: ModelInfo;
  audio: DecodedFile;
  cancel: null;
  vad: VadResult;
  rms: number[];
  decode: WindowResult[];
  diarize: DiarizationOutcome;
  release: null;
}

export interface SerializedError {
  name: string;
  message: string;
  code?: string;
  details?: Record<string, unknown>;
}

export type ThreadMessage =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: SerializedError }
  | { log: string };

if (!parentPort) throw new Error('inference.thread.ts must run as a worker thread');
const port = parentPort;
const data = workerData as ThreadData;

const logger: Logger = pino(
  { level: data.logLevel, base: undefined, serializers: { err: pino.stdSerializers.err } },
  { write: (line: string) => port.postMessage({ log: line } satisfies ThreadMessage) },
);

// Linux nice values are per thread, and threads inherit them: set before any
// ONNX session (and its thread pool) exists, this lowers inference below the
// main thread, which must keep answering lock renewals and HTTP on a busy host.
if (data.nice > 0) {
  try {
    setPriority(0, data.nice);
  } catch (err) {
    logger.warn({ err, nice: data.nice }, 'could not lower the inference thread priority');
  }
}

let engine: WhisperEngine | undefined;
const decoder = new AudioDecoder({ ...data.audio, logger });
/** Abort controllers of running 'audio' requests, by request id. */
const cancellers = new Map<number, AbortController>();
let vad: SileroVad | undefined;
let diarizer: Promise<Diarizer> | undefined;
let released = false;

async function openSource(ref: SourceRef): Promise<PcmSource> {
  return ref.kind === 'file' ? openPcmFile(ref.path) : pcmFromSamples(ref.samples);
}

async function decodeAudio(id: number, path: string): Promise<DecodedFile> {
  const controller = new AbortController();
  cancellers.set(id, controller);
  try {
    const { pcm, probe } = await decoder.decode(path, controller.signal);
    const filePath = pcm.filePath!;
    return { filePath, dir: dirname(filePath), probe };
  } finally {
    cancellers.delete(id);
  }
}

async function handle(request: ThreadRequest): Promise<{ value: unknown; transfer?: ArrayBuffer[] }> {
  if (released && request.op !== 'release') throw new Error('inference thread already released its sessions');
  switch (request.op) {
    case 'audio':
      return { value: await decodeAudio(request.id, request.path) };
    case 'cancel':
      cancellers.get(request.target)?.abort(new DOMException('This operation was aborted', 'AbortError'));
      return { value: null };
    case 'init': {
      void sweepStaleTempDirs(data.audio.tempDir)
        .then((removed) => removed && logger.info({ removed }, 'removed decoded audio left by stopped processes'))
        .catch((err: unknown) => logger.warn({ err }, 'sweeping stale decoded audio failed'));
      [vad, engine] = await Promise.all([
        SileroVad.load({ modelPath: data.vadModelPath, preparedRoot: data.engine.preparedRoot, logger }),
        loadWhisperEngine({ ...data.engine, logger }),
      ]);
      return { value: engine.info };
    }
    case 'vad': {
      if (!vad) throw new Error('inference thread not initialised');
      const source = await openSource(request.source);
      try {
        const result = await vad.detect(source, request.options);
        const probs = result.frames.probs as Float32Array;
        return { value: result, transfer: [probs.buffer as ArrayBuffer] };
      } finally {
        await source.dispose();
      }
    }
    case 'rms': {
      const source = await openSource(request.source);
      try {
        return { value: await windowRms(source, request.windowSamples) };
      } finally {
        await source.dispose();
      }
    }
    case 'decode': {
      if (!engine) throw new Error('inference thread not initialised');
      return { value: await engine.decodeWindows(request.windows, request.options) };
    }
    case 'diarize': {
      // Loaded on first use: workers that never diarize never hold its sessions.
      diarizer ??= Diarizer.load({ modelDir: data.diarizationModelDir, threads: data.engine.threads, logger });
      const loaded = await diarizer.catch((err: unknown) => {
        diarizer = undefined;
        throw err;
      });
      const source = await openSource(request.source);
      try {
        const { speakers, turns } = await loaded.diarize(source, request.options);
        return { value: { speakers, turns } satisfies DiarizationOutcome };
      } finally {
        await source.dispose();
      }
    }
    case 'release': {
      released = true;
      const steps = await Promise.allSettled([engine?.release(), vad?.release(), diarizer?.then((d) => d.release())]);
      engine = undefined;
      vad = undefined;
      diarizer = undefined;
      const failed = steps.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failed) throw failed.reason;
      return { value: null };
    }
  }
}

function serialize(err: unknown): SerializedError {
  if (err instanceof Error) {
    const { code, details } = err as Error & { code?: unknown; details?: Record<string, unknown> };
    return { name: err.name, message: err.message, code: typeof code === 'string' ? code : undefined, details };
  }
  return { name: 'Error', message: String(err) };
}

async function respond(request: ThreadRequest): Promise<void> {
  try {
    const { value, transfer } = await handle(request);
    port.postMessage({ id: request.id, ok: true, value } satisfies ThreadMessage, transfer ?? []);
  } catch (err) {
    logger.debug({ err, op: request.op }, 'inference request failed');
    port.postMessage({ id: request.id, ok: false, error: serialize(err) } satisfies ThreadMessage);
  }
}

// ONNX work runs one request at a time; decoding (waiting on ffmpeg) and
// cancels are served at once, alongside it.
let queue: Promise<void> = Promise.resolve();
port.on('message', (request: ThreadRequest) => {
  if (request.op === 'audio' || request.op === 'cancel') {
    void respond(request);
    return;
  }
  queue = queue.then(() => respond(request));
});
