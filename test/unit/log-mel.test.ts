import { describe, expect, it } from 'vitest';
import { createComplexFft, createRealFft } from '../../src/inference/features/fft.js';
import { createLogMelExtractor, hannWindow, melFilterBank } from '../../src/inference/features/log-mel.js';
import { seededRandom } from '../../src/inference/decoding/logits-rules.js';

const maxOf = (a: Float32Array): number => a.reduce((m, v) => Math.max(m, v), -Infinity);
const minOf = (a: Float32Array): number => a.reduce((m, v) => Math.min(m, v), Infinity);

function naiveDft(re: Float64Array, im: Float64Array): { re: Float64Array; im: Float64Array } {
  const n = re.length;
  const outRe = new Float64Array(n);
  const outIm = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    for (let t = 0; t < n; t++) {
      const a = (-2 * Math.PI * k * t) / n;
      outRe[k] += re[t] * Math.cos(a) - im[t] * Math.sin(a);
      outIm[k] += re[t] * Math.sin(a) + im[t] * Math.cos(a);
    }
  }
  return { re: outRe, im: outIm };
}

describe('FFT', () => {
  it.each([1, 2, 4, 5, 7, 8, 12, 25, 100, 200, 400])('complex FFT of %i points equals the naive DFT', (n) => {
    const random = seededRandom(n);
    const re = Float64Array.from({ length: n }, () => random() - 0.5);
    const im = Float64Array.from({ length: n }, () => random() - 0.5);
    const input = new Float64Array(2 * n);
    for (let i = 0; i < n; i++) [input[2 * i], input[2 * i + 1]] = [re[i], im[i]];
    const output = new Float64Array(2 * n);
    createComplexFft(n).forward(input, output, new Float64Array(2 * n));
    const expected = naiveDft(re, im);
    for (let k = 0; k < n; k++) {
      expect(output[2 * k]).toBeCloseTo(expected.re[k], 10);
      expect(output[2 * k + 1]).toBeCloseTo(expected.im[k], 10);
    }
  });

  it('real FFT of 400 points equals the naive DFT on bins 0..200', () => {
    const random = seededRandom(400);
    const x = Float64Array.from({ length: 400 }, () => random() - 0.5);
    const output = new Float64Array(402);
    createRealFft(400).forward(x, output);
    const expected = naiveDft(x, new Float64Array(400));
    for (let k = 0; k <= 200; k++) {
      expect(output[2 * k]).toBeCloseTo(expected.re[k], 10);
      expect(output[2 * k + 1]).toBeCloseTo(expected.im[k], 10);
    }
  });

  it('rejects sizes it cannot plan', () => {
    expect(() => createRealFft(401)).toThrow(RangeError);
    expect(() => createComplexFft(0)).toThrow(RangeError);
  });
});

describe('window and mel filters', () => {
  it('periodic Hann: zero at 0, one at the centre, symmetric around it', () => {
    const w = hannWindow(400);
    expect(w[0]).toBe(0);
    expect(w[200]).toBeCloseTo(1, 12);
    for (let i = 1; i < 200; i++) expect(w[i]).toBeCloseTo(w[400 - i], 12);
  });

  it('Slaney filters: 80 triangles over 201 bins with area normalisation 2/(f_hi - f_lo)', () => {
    const filters = melFilterBank(80, 400, 16000);
    expect(filters).toHaveLength(80);
    expect(filters.every((row) => row.length === 201)).toBe(true);
    for (const row of filters) {
      expect(Math.min(...row)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...row)).toBeGreaterThan(0);
    }
    // Below 1 kHz the Slaney scale is linear: every low filter spans 2 × 200/3·(mel step) Hz, same peak.
    const melStep = (15 + Math.log(8000 / 1000) * (27 / Math.log(6.4))) / 81;
    const width = 2 * ((200 * melStep) / 3);
    const peak = (2 / width) * 1; // triangle height 1 × enorm, reached when a bin hits the centre
    expect(Math.max(...filters[0])).toBeLessThanOrEqual(peak + 1e-12);
    expect(createLogMelExtractor({ featureSize: 128 }).nMels).toBe(128);
  });
});

describe('log-mel extractor', () => {
  it('pads to 3000 frames and normalises to (max(x, max-8) + 4) / 4', () => {
    const extractor = createLogMelExtractor();
    const tone = Float32Array.from({ length: 16000 }, (_, i) => 0.5 * Math.sin((2 * Math.PI * 440 * i) / 16000));
    const features = extractor.extract(tone);
    expect(features).toHaveLength(80 * 3000);
    const max = maxOf(features);
    const min = minOf(features);
    expect(max - min).toBeCloseTo(2, 5); // clamp at max − 8 in log10, divided by 4
    // The padded tail (frames past 1 s + half a window) sits at the floor.
    expect(features[0 * 3000 + 2999]).toBeCloseTo(min, 6);
    // 440 Hz lands in a low mel bin: that row is loudest in the tone's frames.
    let best = 0;
    for (let m = 0; m < 80; m++) if (features[m * 3000 + 50] > features[best * 3000 + 50]) best = m;
    expect(best).toBeGreaterThan(3);
    expect(best).toBeLessThan(15);
  });

  it('digital silence gives a flat spectrogram of (log10(1e-10) + 4) / 4 = -1.5', () => {
    const features = createLogMelExtractor().extract(new Float32Array(16000 * 5));
    expect(maxOf(features)).toBeCloseTo(-1.5, 6);
    expect(minOf(features)).toBeCloseTo(-1.5, 6);
  });

  it('trims audio longer than 30 s and writes into a given buffer', () => {
    const extractor = createLogMelExtractor();
    const random = seededRandom(7);
    const long = Float32Array.from({ length: 16000 * 31 }, () => random() - 0.5);
    const out = new Float32Array(80 * 3000);
    expect(extractor.extract(long, out)).toBe(out);
    expect(extractor.extract(long.subarray(0, 480000))).toEqual(out);
    expect(() => extractor.extract(long, new Float32Array(10))).toThrow(RangeError);
  });
});
