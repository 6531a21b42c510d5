/**
 * Whisper's log-mel spectrogram, matching OpenAI's `log_mel_spectrogram` and
 * transformers.js's WhisperFeatureExtractor: 30 s of 16 kHz audio (zero-padded
 * or trimmed), STFT with n_fft 400 / hop 160 / periodic Hann and centre reflect
 * padding, power spectrum, Slaney mel filters, log10, clamp to max − 8,
 * (x + 4) / 4. Pure functions; the plan holds the precomputed tables.
 */
import { createRealFft } from './fft.js';

/** The fields of a model's preprocessor_config.json that shape the features. */
export interface LogMelConfig {
  /** Number of mel bins (80, or 128 for large-v3). @defaultValue 80 */
  featureSize?: number;
  /** @defaultValue 16000 */
  samplingRate?: number;
  /** @defaultValue 400 */
  nFft?: number;
  /** @defaultValue 160 */
  hopLength?: number;
  /** Samples per window (30 s). @defaultValue 480000 */
  nSamples?: number;
  /** Frames per window. @defaultValue 3000 */
  nbMaxFrames?: number;
  /** [nMels][nFft/2+1] filters shipped in the config; computed (Slaney) when absent. */
  melFilters?: number[][];
}

/** A precomputed extractor for one model's feature settings. */
export interface LogMelExtractor {
  readonly nMels: number;
  readonly nFrames: number;
  /** Samples one window holds (30 s). */
  readonly nSamples: number;
  /**
   * Computes the [nMels, nFrames] features (row-major) of one window of 16 kHz mono audio.
   * Audio longer than `nSamples` is trimmed, shorter is zero-padded.
   * @param out where to write (length nMels·nFrames); a new array when omitted.
   */
  extract(audio: Float32Array, out?: Float32Array): Float32Array;
}

/** Reads the feature settings from a parsed preprocessor_config.json. */
export function logMelConfigFromPreprocessor(json: Record<string, unknown>): LogMelConfig {
  const num = (key: string): number | undefined => (typeof json[key] === 'number' ? (json[key] as number) : undefined);
  return {
    featureSize: num('feature_size'),
    samplingRate: num('sampling_rate'),
    nFft: num('n_fft'),
    hopLength: num('hop_length'),
    nSamples: num('n_samples'),
    nbMaxFrames: num('nb_max_frames'),
    melFilters: Array.isArray(json.mel_filters) ? (json.mel_filters as number[][]) : undefined,
  };
}

/** Periodic Hann window of `length` points (numpy `hanning(length + 1)[:-1]`). */
export function hannWindow(length: number): Float64Array {
  const window = new Float64Array(length);
  for (let i = 0; i < length; i++) window[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / length);
  return window;
}

const SLANEY_MIN_LOG_HZ = 1000;
const SLANEY_MIN_LOG_MEL = 15;
const SLANEY_LOGSTEP = 27 / Math.log(6.4);

function hzToMelSlaney(hz: number): number {
  return hz >= SLANEY_MIN_LOG_HZ ? SLANEY_MIN_LOG_MEL + Math.log(hz / SLANEY_MIN_LOG_HZ) * SLANEY_LOGSTEP : (3 * hz) / 200;
}

function melToHzSlaney(mel: number): number {
  return mel >= SLANEY_MIN_LOG_MEL
    ? SLANEY_MIN_LOG_HZ * Math.exp((mel - SLANEY_MIN_LOG_MEL) / SLANEY_LOGSTEP)
    : (200 * mel) / 3;
}

/**
 * Slaney-scale, Slaney-normalised triangular mel filters, as librosa's
 * `filters.mel(sr, n_fft, n_mels, htk=False, norm='slaney')` (what Whisper ships).
 * @returns nMels rows of nFft/2 + 1 weights.
 */
export function melFilterBank(nMels: number, nFft: number, samplingRate: number, fMin = 0, fMax = samplingRate / 2): Float64Array[] {
  const nBins = Math.floor(nFft / 2) + 1;
  const melMin = hzToMelSlaney(fMin);
  const melMax = hzToMelSlaney(fMax);
  const edges = new Float64Array(nMels + 2);
  for (let i = 0; i < nMels + 2; i++) edges[i] = melToHzSlaney(melMin + ((melMax - melMin) * i) / (nMels + 1));
  const binHz = new Float64Array(nBins);
  const nyquist = Math.floor(samplingRate / 2);
  for (let j = 0; j < nBins; j++) binHz[j] = (nyquist * j) / (nBins - 1);
  const filters: Float64Array[] = [];
  for (let m = 0; m < nMels; m++) {
    const row = new Float64Array(nBins);
    const lower = edges[m + 1] - edges[m];
    const upper = edges[m + 2] - edges[m + 1];
    const enorm = 2 / (edges[m + 2] - edges[m]);
    for (let j = 0; j < nBins; j++) {
      const down = (binHz[j] - edges[m]) / lower;
      const up = (edges[m + 2] - binHz[j]) / upper;
      row[j] = Math.max(0, Math.min(down, up)) * enorm;
    }
    filters.push(row);
  }
  return filters;
}

/** Builds an extractor with its window, FFT and (sparse) filters precomputed. */
export function createLogMelExtractor(config: LogMelConfig = {}): LogMelExtractor {
  const nMels = config.featureSize ?? 80;
  const samplingRate = config.samplingRate ?? 16_000;
  const nFft = config.nFft ?? 400;
  const hop = config.hopLength ?? 160;
  const nSamples = config.nSamples ?? 480_000;
  const nFrames = config.nbMaxFrames ?? Math.floor(nSamples / hop);
  const nBins = Math.floor(nFft / 2) + 1;

  const filters = config.melFilters
    ? config.melFilters.map((row) => Float64Array.from(row))
    : melFilterBank(nMels, nFft, samplingRate);
  if (filters.length !== nMels || filters.some((row) => row.length !== nBins)) {
    throw new RangeError(`mel filters must be ${nMels}×${nBins}, got ${filters.length}×${filters[0]?.length ?? 0}`);
  }
  // Each triangle covers a few bins: keep only the non-zero span of every row.
  const spans = filters.map((row) => {
    let first = row.findIndex((w) => w !== 0);
    if (first < 0) first = 0;
    let last = row.length - 1;
    while (last > first && row[last] === 0) last--;
    return { first, weights: row.slice(first, last + 1) };
  });

  const window = hannWindow(nFft);
  const fft = createRealFft(nFft);
  const pad = Math.floor(nFft / 2);
  const frame = new Float64Array(nFft);
  const spectrum = new Float64Array(nBins * 2);
  const power = new Float64Array(nBins);
  const padded = new Float64Array(nSamples + 2 * pad);
  const logMel = new Float64Array(nMels * nFrames);

  return {
    nMels,
    nFrames,
    nSamples,
    extract(audio, out = new Float32Array(nMels * nFrames)) {
      if (out.length !== nMels * nFrames) throw new RangeError(`output must hold ${nMels * nFrames} values, got ${out.length}`);
      const used = Math.min(audio.length, nSamples);
      padded.fill(0);
      for (let i = 0; i < used; i++) padded[pad + i] = audio[i];
      // Centre padding reflects the 30-s (zero-padded) signal, as torch.stft(center=True, pad_mode='reflect').
      for (let i = 1; i <= pad; i++) {
        padded[pad - i] = padded[pad + i];
        padded[pad + nSamples - 1 + i] = padded[pad + nSamples - 1 - i];
      }
      let lastNonZero = padded.length - 1;
      while (lastNonZero >= 0 && padded[lastNonZero] === 0) lastNonZero--;
      let maxLog = -Infinity;
      for (let t = 0; t < nFrames; t++) {
        const offset = t * hop;
        if (offset > lastNonZero) {
          // Frames inside the zero padding have no energy: skip their FFT.
          power.fill(0);
        } else {
          for (let i = 0; i < nFft; i++) frame[i] = padded[offset + i] * window[i];
          fft.forward(frame, spectrum);
          for (let k = 0; k < nBins; k++) {
            const re = spectrum[k * 2];
            const im = spectrum[k * 2 + 1];
            power[k] = re * re + im * im;
          }
        }
        for (let m = 0; m < nMels; m++) {
          const { first, weights } = spans[m];
          let sum = 0;
          for (let k = 0; k < weights.length; k++) sum += weights[k] * power[first + k];
          const value = Math.log10(sum > 1e-10 ? sum : 1e-10);
          logMel[m * nFrames + t] = value;
          if (value > maxLog) maxLog = value;
        }
      }
      const floor = maxLog - 8;
      for (let i = 0; i < logMel.length; i++) {
        const v = logMel[i];
        out[i] = ((v > floor ? v : floor) + 4) / 4;
      }
      return out;
    },
  };
}
