/**
 * Parity of the committed diarization models with the reference outputs that
 * tools/diarization-export saved from torch and kaldi-native-fbank: the
 * TypeScript fbank against Kaldi's features, each ONNX graph (run by
 * onnxruntime-node) against the torch network it was exported from.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kaldiFbank, subtractFrameMean } from '../../src/inference/features/kaldi-fbank.js';
import { BUNDLED_DIARIZATION_DIR, loadDiarizationModels, type DiarizationModels } from '../../src/inference/diarization/models.js';

const REF = join(BUNDLED_DIARIZATION_DIR, 'reference');

interface Reference {
  audio: { file: string; samples: number };
  segmentation: { file: string; shape: number[] };
  fbank: { start: number; end: number; file: string; shape: number[] }[];
  embedding: { file: string; shape: number[] };
}

const reference = JSON.parse(readFileSync(join(REF, 'reference.json'), 'utf8')) as Reference;

function f32(file: string): Float32Array {
  const bytes = readFileSync(join(REF, file));
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function audio(): Float32Array {
  const bytes = readFileSync(join(REF, reference.audio.file));
  const pcm = new Int16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  return Float32Array.from(pcm, (v) => v / 32768);
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  return absDiff(a, b).max;
}

function absDiff(a: Float32Array, b: Float32Array): { max: number; mean: number } {
  expect(a.length).toBe(b.length);
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / a.length };
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb);
}

describe('diarization models: parity with the export references', () => {
  let models: DiarizationModels;
  const samples = audio();

  beforeAll(async () => {
    models = await loadDiarizationModels();
  });
  afterAll(async () => {
    await models?.release();
  });

  it('kaldiFbank matches kaldi-native-fbank on every reference span', () => {
    for (const span of reference.fbank) {
      const ours = kaldiFbank(samples.subarray(span.start * 16000, span.end * 16000));
      const theirs = f32(span.file);
      expect(ours.length / 80).toBe(span.shape[0]);
      // Kaldi computes in float32, this code in float64: they differ by ~1e-5 on
      // average, by up to a few thousandths in near-silent bins (log energy ~ -16).
      const diff = absDiff(ours, theirs);
      expect(diff.mean).toBeLessThan(1e-4);
      expect(diff.max).toBeLessThan(5e-3);
    }
  });

  it('segmentation ONNX gives the torch log-probabilities', async () => {
    const out = await models.segmentation.run({ waveforms: new ort.Tensor('float32', samples, [1, 1, samples.length]) });
    const logProbs = out.log_probs!;
    expect(logProbs.dims).toEqual(reference.segmentation.shape);
    expect(maxAbsDiff(logProbs.data as Float32Array, f32(reference.segmentation.file))).toBeLessThan(1e-3);
  });

  it('CAM++ ONNX on the TypeScript fbank gives the torch embeddings', async () => {
    const expected = f32(reference.embedding.file);
    for (const [i, span] of reference.fbank.entries()) {
      const feats = subtractFrameMean(kaldiFbank(samples.subarray(span.start * 16000, span.end * 16000)));
      const out = await models.embedding.run({ fbank: new ort.Tensor('float32', feats, [1, feats.length / 80, 80]) });
      const ours = out.embedding!.data as Float32Array;
      expect(ours.length).toBe(192);
      expect(cosine(ours, expected.subarray(i * 192, (i + 1) * 192))).toBeGreaterThan(0.999);
    }
  });
});
