/**
 * Speaker diarization of decoded audio: speech regions from pyannote
 * segmentation, a CAM++ embedding for every 1.5-s window (0.75-s hop) inside
 * them, agglomerative clustering of the embeddings, and the windows' labels
 * made into speaker turns. Runs in the inference thread: the ONNX runs and
 * the clustering never touch the main event loop.
 */
import ort from 'onnxruntime-node';
import type { Logger } from '../../core/logger.js';
import type { PcmSource } from '../audio/decode.js';
import { FBANK_BINS, fbankFrameCount, kaldiFbank, subtractFrameMean } from '../features/kaldi-fbank.js';
import { clusterEmbeddings, normalizeRows, type ClusteringOptions } from './clustering.js';
import { loadDiarizationModels, type DiarizationModels, type LoadDiarizationModelsOptions } from './models.js';
import { speechProbabilities, speechRegions, type SpeechOptions, type SpeechRegion } from './speech.js';
import { bridgePauses, turnsFromWindows, type LabelledWindow, type SpeakerTurn } from './turns.js';

const SAMPLE_RATE = 16_000;
/** Fbank frames per embedding window (1.5 s) and per hop (0.75 s). */
const WINDOW_FRAMES = 148;
const HOP_FRAMES = 75;
/** A region shorter than this gets one window of its own length; shorter still is widened to it. */
const MIN_WINDOW_SEC = 0.5;
/** Windows per CAM++ run. */
const EMBED_BATCH = 16;
/** Past this many windows the hop grows, so that clustering memory (n² floats) stays bounded. */
const MAX_WINDOWS = 6000;

/** Pauses up to this long (s) inside one speaker's talk stay part of the turn. */
export const DEFAULT_TURN_PAUSE = 0.5;

export interface DiarizeOptions extends ClusteringOptions {
  /** @defaultValue DEFAULT_TURN_PAUSE */
  turnPause?: number;
  speech?: Omit<SpeechOptions, 'signal'>;
  signal?: AbortSignal;
}

/** What a caller of the inference thread may ask (see DiarizeOptions for the rest). */
export interface DiarizeRequest {
  numSpeakers?: number;
  minSpeakers?: number;
  maxSpeakers?: number;
  signal?: AbortSignal;
}

/** What the inference thread answers: the speaker count and the turns. */
export interface DiarizationOutcome {
  speakers: number;
  turns: SpeakerTurn[];
}

export interface DiarizationResult {
  /** Number of speakers found (0 when there is no speech). */
  speakers: number;
  turns: SpeakerTurn[];
  speech: SpeechRegion[];
  /** Embedding windows that were clustered. */
  windows: number;
  timings: { speechMs: number; embeddingMs: number; clusteringMs: number };
}

export interface Window {
  region: number;
  /** First fbank frame within the region. */
  frame: number;
  frames: number;
}

/** Embedding windows of one region: WINDOW_FRAMES long, `hop` apart, the last aligned to the region's end. */
export function regionWindows(regionFrames: number, hop: number): { frame: number; frames: number }[] {
  if (regionFrames <= WINDOW_FRAMES) return [{ frame: 0, frames: regionFrames }];
  const windows: { frame: number; frames: number }[] = [];
  let frame = 0;
  for (; frame + WINDOW_FRAMES <= regionFrames; frame += hop) windows.push({ frame, frames: WINDOW_FRAMES });
  const last = regionFrames - WINDOW_FRAMES;
  if (windows[windows.length - 1]!.frame < last) windows.push({ frame: last, frames: WINDOW_FRAMES });
  return windows;
}

export class Diarizer {
  private constructor(
    private readonly models: DiarizationModels,
    private readonly log: Logger,
  ) {}

  static async load(options: LoadDiarizationModelsOptions & { logger: Logger }): Promise<Diarizer> {
    const models = await loadDiarizationModels(options);
    const log = options.logger.child({ module: 'diarization' });
    log.info({ modelDir: options.modelDir ?? 'bundled' }, 'diarization models loaded');
    return new Diarizer(models, log);
  }

  async release(): Promise<void> {
    await this.models.release();
  }

  async diarize(pcm: PcmSource, options: DiarizeOptions = {}): Promise<DiarizationResult> {
    return this.cluster(await this.embed(pcm, options), options);
  }

  /** Speech regions and an embedding per window: the costly part, done once whatever the clustering. */
  async embed(pcm: PcmSource, options: Pick<DiarizeOptions, 'speech' | 'signal'> = {}): Promise<EmbeddedAudio> {
    const t0 = performance.now();
    const { segmentation, embedding, timing, embeddingDim } = this.models;
    const probs = await speechProbabilities(segmentation, timing, pcm, { ...options.speech, signal: options.signal });
    const regions = speechRegions(probs, timing, pcm.durationSec, options.speech).map((r) => widen(r, pcm.durationSec));
    const t1 = performance.now();

    const speechFrames = regions.reduce((sum, r) => sum + Math.round((r.end - r.start) * 100), 0);
    const hop = Math.max(HOP_FRAMES, Math.ceil(speechFrames / MAX_WINDOWS));
    const windows: Window[] = [];
    const embeddings: Float32Array[] = [];
    const pending: { window: Window; features: Float32Array }[] = [];
    const flush = async () => {
      if (pending.length === 0) return;
      options.signal?.throwIfAborted();
      // Windows of one length share a batch; a short region's window runs alone.
      const frames = pending[0]!.window.frames;
      const input = new Float32Array(pending.length * frames * FBANK_BINS);
      pending.forEach((p, i) => input.set(p.features, i * frames * FBANK_BINS));
      const out = await embedding.run({ fbank: new ort.Tensor('float32', input, [pending.length, frames, FBANK_BINS]) });
      const data = out.embedding!.data as Float32Array;
      pending.forEach((p, i) => {
        windows.push(p.window);
        embeddings.push(data.slice(i * embeddingDim, (i + 1) * embeddingDim));
      });
      pending.length = 0;
    };
    for (const [r, region] of regions.entries()) {
      const samples = await pcm.read(Math.round(region.start * SAMPLE_RATE), Math.round(region.end * SAMPLE_RATE));
      const features = kaldiFbank(samples);
      const regionFrames = fbankFrameCount(samples.length);
      if (regionFrames < 10) continue;
      for (const w of regionWindows(regionFrames, hop)) {
        const slice = subtractFrameMean(features.slice(w.frame * FBANK_BINS, (w.frame + w.frames) * FBANK_BINS));
        if (pending.length > 0 && (pending[0]!.window.frames !== w.frames || pending.length >= EMBED_BATCH)) await flush();
        pending.push({ window: { region: r, ...w }, features: slice });
      }
    }
    await flush();
    const t2 = performance.now();
    const matrix = new Float32Array(embeddings.length * embeddingDim);
    embeddings.forEach((e, i) => matrix.set(e, i * embeddingDim));
    return {
      regions,
      windows,
      embeddings: normalizeRows(matrix, embeddingDim),
      dim: embeddingDim,
      speechMs: Math.round(t1 - t0),
      embeddingMs: Math.round(t2 - t1),
    };
  }

  /** Clusters the windows' embeddings and makes speaker turns. Pure CPU work, no ONNX. */
  cluster(embedded: EmbeddedAudio, options: Omit<DiarizeOptions, 'speech' | 'signal'> = {}): DiarizationResult {
    const t0 = performance.now();
    const { regions, windows, embeddings, dim } = embedded;
    const labels = clusterEmbeddings(embeddings.slice(), dim, options);
    const labelled: LabelledWindow[] = windows.map((w, i) => {
      const start = regions[w.region]!.start + w.frame / 100;
      return { region: w.region, start, end: start + (w.frames * 160 + 240) / SAMPLE_RATE, speaker: labels[i]! };
    });
    const turns = bridgePauses(
      turnsFromWindows(
        regions.filter((_, r) => windows.some((w) => w.region === r)),
        reindexRegions(labelled),
      ),
      options.turnPause ?? DEFAULT_TURN_PAUSE,
    );
    const speakers = new Set(labels).size;
    const result: DiarizationResult = {
      speakers,
      turns,
      speech: regions,
      windows: windows.length,
      timings: { speechMs: embedded.speechMs, embeddingMs: embedded.embeddingMs, clusteringMs: Math.round(performance.now() - t0) },
    };
    this.log.debug({ speakers, windows: windows.length, regions: regions.length, ...result.timings }, 'diarized');
    return result;
  }
}

/** What `Diarizer.embed` found: speech regions, the embedding windows in them and their unit-length embeddings. */
export interface EmbeddedAudio {
  regions: SpeechRegion[];
  windows: Window[];
  /** windows.length × dim, row-major, unit length. */
  embeddings: Float32Array;
  dim: number;
  speechMs: number;
  embeddingMs: number;
}

/** A speech region too short for an embedding is widened around its centre (within the audio). */
function widen(region: SpeechRegion, duration: number): SpeechRegion {
  if (region.end - region.start >= MIN_WINDOW_SEC) return region;
  const centre = (region.start + region.end) / 2;
  const start = Math.max(0, Math.min(centre - MIN_WINDOW_SEC / 2, duration - MIN_WINDOW_SEC));
  return { start, end: Math.min(duration, start + MIN_WINDOW_SEC) };
}

/** Region indices renumbered to count only the regions that kept windows (the order turnsFromWindows expects). */
function reindexRegions(windows: LabelledWindow[]): LabelledWindow[] {
  const map = new Map<number, number>();
  return windows.map((w) => {
    if (!map.has(w.region)) map.set(w.region, map.size);
    return { ...w, region: map.get(w.region)! };
  });
}
