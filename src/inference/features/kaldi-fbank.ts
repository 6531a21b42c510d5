/**
 * Kaldi-compatible log mel filterbank features, as the CAM++ speaker embedding
 * model was trained on them (torchaudio.compliance.kaldi.fbank defaults):
 * 25-ms frames every 10 ms with snip_edges, no dither, DC offset removed,
 * pre-emphasis 0.97, povey window, 512-point power spectrum, 80 triangular mel
 * bins over 20 Hz..Nyquist, natural log floored at float32 epsilon. Checked
 * against kaldi-native-fbank's output (models/diarization/reference).
 */
import { createRealFft } from './fft.js';

export const FBANK_BINS = 80;
const SAMPLE_RATE = 16_000;
const FRAME_LENGTH = 400;
const FRAME_SHIFT = 160;
const FFT_SIZE = 512;
const PREEMPHASIS = 0.97;
const LOW_FREQ = 20;
const FLOAT32_EPSILON = 1.1920928955078125e-7;

function mel(freq: number): number {
  return 1127 * Math.log(1 + freq / 700);
}

interface MelBank {
  /** First FFT bin with a non-zero weight. */
  offset: number;
  weights: Float64Array;
}

function melBanks(): MelBank[] {
  const nyquist = SAMPLE_RATE / 2;
  const fftBins = FFT_SIZE / 2;
  const binWidth = SAMPLE_RATE / FFT_SIZE;
  const melLow = mel(LOW_FREQ);
  const delta = (mel(nyquist) - melLow) / (FBANK_BINS + 1);
  const banks: MelBank[] = [];
  for (let b = 0; b < FBANK_BINS; b++) {
    const left = melLow + b * delta;
    const center = left + delta;
    const right = center + delta;
    let first = -1;
    const row: number[] = [];
    for (let i = 0; i < fftBins; i++) {
      const m = mel(binWidth * i);
      if (m > left && m < right) {
        if (first < 0) first = i;
        row.push(m <= center ? (m - left) / (center - left) : (right - m) / (right - center));
      } else if (first >= 0) {
        break;
      }
    }
    banks.push({ offset: Math.max(first, 0), weights: Float64Array.from(row) });
  }
  return banks;
}

let shared: { window: Float64Array; banks: MelBank[] } | undefined;

function tables(): { window: Float64Array; banks: MelBank[] } {
  if (!shared) {
    const window = new Float64Array(FRAME_LENGTH);
    for (let i = 0; i < FRAME_LENGTH; i++) {
      window[i] = Math.pow(0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (FRAME_LENGTH - 1)), 0.85);
    }
    shared = { window, banks: melBanks() };
  }
  return shared;
}

/** Frames Kaldi makes of `sampleCount` samples (snip_edges: only whole frames). */
export function fbankFrameCount(sampleCount: number): number {
  return sampleCount < FRAME_LENGTH ? 0 : 1 + Math.floor((sampleCount - FRAME_LENGTH) / FRAME_SHIFT);
}

/**
 * Log mel filterbank of 16 kHz samples in [-1, 1]: frames × 80, row-major.
 */
export function kaldiFbank(samples: Float32Array): Float32Array {
  const { window, banks } = tables();
  const frames = fbankFrameCount(samples.length);
  const out = new Float32Array(frames * FBANK_BINS);
  const fft = createRealFft(FFT_SIZE);
  const frame = new Float64Array(FFT_SIZE);
  const spectrum = new Float64Array(FFT_SIZE + 2);
  const power = new Float64Array(FFT_SIZE / 2 + 1);
  for (let f = 0; f < frames; f++) {
    const start = f * FRAME_SHIFT;
    let mean = 0;
    for (let i = 0; i < FRAME_LENGTH; i++) mean += samples[start + i]!;
    mean /= FRAME_LENGTH;
    for (let i = 0; i < FRAME_LENGTH; i++) frame[i] = samples[start + i]! - mean;
    for (let i = FRAME_LENGTH - 1; i > 0; i--) frame[i] = frame[i]! - PREEMPHASIS * frame[i - 1]!;
    frame[0] = frame[0]! * (1 - PREEMPHASIS);
    for (let i = 0; i < FRAME_LENGTH; i++) frame[i] = frame[i]! * window[i]!;
    frame.fill(0, FRAME_LENGTH);
    fft.forward(frame, spectrum);
    for (let k = 0; k < power.length; k++) {
      const re = spectrum[2 * k]!;
      const im = spectrum[2 * k + 1]!;
      power[k] = re * re + im * im;
    }
    for (let b = 0; b < FBANK_BINS; b++) {
      const { offset, weights } = banks[b]!;
      let energy = 0;
      for (let j = 0; j < weights.length; j++) energy += weights[j]! * power[offset + j]!;
      out[f * FBANK_BINS + b] = Math.log(Math.max(energy, FLOAT32_EPSILON));
    }
  }
  return out;
}

/** Subtracts each bin's mean over the frames, in place (CAM++'s per-utterance normalisation). */
export function subtractFrameMean(features: Float32Array, bins = FBANK_BINS): Float32Array {
  const frames = features.length / bins;
  if (frames === 0) return features;
  for (let b = 0; b < bins; b++) {
    let sum = 0;
    for (let f = 0; f < frames; f++) sum += features[f * bins + b]!;
    const mean = sum / frames;
    for (let f = 0; f < frames; f++) features[f * bins + b] = features[f * bins + b]! - mean;
  }
  return features;
}
