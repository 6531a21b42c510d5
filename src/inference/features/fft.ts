/**
 * A mixed-radix complex FFT (Stockham autosort) for small fixed sizes, and the
 * real FFT built on it. Plans precompute every twiddle, so a transform only
 * multiplies and adds.
 */

interface Stage {
  radix: number;
  /** Product of the radices of the stages before this one. */
  span: number;
  /** Per (j, r): the twiddle applied to input r of butterfly j, interleaved re/im. */
  twiddles: Float64Array;
  /** exp(-2πi·q·r/radix), interleaved re/im, indexed q*radix + r. */
  roots: Float64Array;
}

const C1 = Math.cos((2 * Math.PI) / 5);
const C2 = Math.cos((4 * Math.PI) / 5);
const S1 = Math.sin((2 * Math.PI) / 5);
const S2 = Math.sin((4 * Math.PI) / 5);

/** A precomputed complex FFT of one size. */
export interface ComplexFftPlan {
  readonly size: number;
  /** Forward transform of interleaved re/im `input` into `output`; `scratch` has the same length. `input` is left as is. */
  forward(input: Float64Array, output: Float64Array, scratch: Float64Array): void;
}

function factorize(n: number): number[] {
  const factors: number[] = [];
  let rest = n;
  for (const p of [4, 2, 3, 5]) {
    while (rest % p === 0) {
      factors.push(p);
      rest /= p;
    }
  }
  for (let p = 7; rest > 1; p += 2) {
    while (rest % p === 0) {
      factors.push(p);
      rest /= p;
    }
  }
  return factors;
}

/** Builds a complex FFT plan for `size` points (any size; small prime factors are fastest). */
export function createComplexFft(size: number): ComplexFftPlan {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`FFT size must be a positive integer, got ${size}`);
  const stages: Stage[] = [];
  let span = 1;
  for (const radix of factorize(size)) {
    const groups = size / radix;
    const twiddles = new Float64Array(groups * radix * 2);
    for (let j = 0; j < groups; j++) {
      const k = j % span;
      const angle = (-2 * Math.PI * k) / (span * radix);
      for (let r = 0; r < radix; r++) {
        twiddles[(j * radix + r) * 2] = Math.cos(r * angle);
        twiddles[(j * radix + r) * 2 + 1] = Math.sin(r * angle);
      }
    }
    const roots = new Float64Array(radix * radix * 2);
    for (let q = 0; q < radix; q++) {
      for (let r = 0; r < radix; r++) {
        const a = (-2 * Math.PI * ((q * r) % radix)) / radix;
        roots[(q * radix + r) * 2] = Math.cos(a);
        roots[(q * radix + r) * 2 + 1] = Math.sin(a);
      }
    }
    stages.push({ radix, span, twiddles, roots });
    span *= radix;
  }
  const maxRadix = Math.max(1, ...stages.map((s) => s.radix));
  const vRe = new Float64Array(maxRadix);
  const vIm = new Float64Array(maxRadix);

  return {
    size,
    forward(input, output, scratch) {
      if (stages.length === 0) {
        output[0] = input[0];
        output[1] = input[1];
        return;
      }
      let src = input;
      const last = stages.length - 1;
      for (let stage = 0; stage <= last; stage++) {
        const { radix, span: ns, twiddles, roots } = stages[stage];
        // The last stage writes into `output`; stages before it alternate with `scratch`.
        const dst = (last - stage) % 2 === 0 ? output : scratch;
        const groups = size / radix;
        for (let j = 0; j < groups; j++) {
          for (let r = 0; r < radix; r++) {
            const s = (j + r * groups) * 2;
            const t = (j * radix + r) * 2;
            const re = src[s];
            const im = src[s + 1];
            const wr = twiddles[t];
            const wi = twiddles[t + 1];
            vRe[r] = re * wr - im * wi;
            vIm[r] = re * wi + im * wr;
          }
          const base = (Math.floor(j / ns) * ns * radix + (j % ns)) * 2;
          if (radix === 2) {
            dst[base] = vRe[0] + vRe[1];
            dst[base + 1] = vIm[0] + vIm[1];
            dst[base + ns * 2] = vRe[0] - vRe[1];
            dst[base + ns * 2 + 1] = vIm[0] - vIm[1];
          } else if (radix === 4) {
            const aRe = vRe[0] + vRe[2];
            const aIm = vIm[0] + vIm[2];
            const bRe = vRe[0] - vRe[2];
            const bIm = vIm[0] - vIm[2];
            const cRe = vRe[1] + vRe[3];
            const cIm = vIm[1] + vIm[3];
            // (v1 - v3) · (-i)
            const dRe = vIm[1] - vIm[3];
            const dIm = vRe[3] - vRe[1];
            dst[base] = aRe + cRe;
            dst[base + 1] = aIm + cIm;
            dst[base + ns * 2] = bRe + dRe;
            dst[base + ns * 2 + 1] = bIm + dIm;
            dst[base + ns * 4] = aRe - cRe;
            dst[base + ns * 4 + 1] = aIm - cIm;
            dst[base + ns * 6] = bRe - dRe;
            dst[base + ns * 6 + 1] = bIm - dIm;
          } else if (radix === 5) {
            const t1Re = vRe[1] + vRe[4];
            const t1Im = vIm[1] + vIm[4];
            const t2Re = vRe[2] + vRe[3];
            const t2Im = vIm[2] + vIm[3];
            const t3Re = vRe[1] - vRe[4];
            const t3Im = vIm[1] - vIm[4];
            const t4Re = vRe[2] - vRe[3];
            const t4Im = vIm[2] - vIm[3];
            const b1Re = vRe[0] + C1 * t1Re + C2 * t2Re;
            const b1Im = vIm[0] + C1 * t1Im + C2 * t2Im;
            const b2Re = vRe[0] + C2 * t1Re + C1 * t2Re;
            const b2Im = vIm[0] + C2 * t1Im + C1 * t2Im;
            // d = -i·u, with u1 = s1·t3 + s2·t4 and u2 = s2·t3 − s1·t4
            const u1Re = S1 * t3Re + S2 * t4Re;
            const u1Im = S1 * t3Im + S2 * t4Im;
            const u2Re = S2 * t3Re - S1 * t4Re;
            const u2Im = S2 * t3Im - S1 * t4Im;
            const s = ns * 2;
            dst[base] = vRe[0] + t1Re + t2Re;
            dst[base + 1] = vIm[0] + t1Im + t2Im;
            dst[base + s] = b1Re + u1Im;
            dst[base + s + 1] = b1Im - u1Re;
            dst[base + 2 * s] = b2Re + u2Im;
            dst[base + 2 * s + 1] = b2Im - u2Re;
            dst[base + 3 * s] = b2Re - u2Im;
            dst[base + 3 * s + 1] = b2Im + u2Re;
            dst[base + 4 * s] = b1Re - u1Im;
            dst[base + 4 * s + 1] = b1Im + u1Re;
          } else {
            for (let q = 0; q < radix; q++) {
              let re = 0;
              let im = 0;
              for (let r = 0; r < radix; r++) {
                const w = (q * radix + r) * 2;
                re += vRe[r] * roots[w] - vIm[r] * roots[w + 1];
                im += vRe[r] * roots[w + 1] + vIm[r] * roots[w];
              }
              dst[base + q * ns * 2] = re;
              dst[base + q * ns * 2 + 1] = im;
            }
          }
        }
        src = dst;
      }
    },
  };
}

/** A precomputed real FFT of an even size: bins 0..size/2 of a real signal. */
export interface RealFftPlan {
  readonly size: number;
  /**
   * Writes the `size/2 + 1` one-sided bins of real `input` (length `size`)
   * into `output` as interleaved re/im.
   */
  forward(input: Float64Array, output: Float64Array): void;
}

/** Builds a real FFT for an even `size` from a complex FFT of `size/2` points. */
export function createRealFft(size: number): RealFftPlan {
  if (!Number.isInteger(size) || size < 2 || size % 2 !== 0) {
    throw new RangeError(`real FFT size must be an even integer >= 2, got ${size}`);
  }
  const half = size / 2;
  const inner = createComplexFft(half);
  const packed = new Float64Array(size);
  const spectrum = new Float64Array(size);
  const scratch = new Float64Array(size);
  const wRe = new Float64Array(half + 1);
  const wIm = new Float64Array(half + 1);
  for (let k = 0; k <= half; k++) {
    wRe[k] = Math.cos((-2 * Math.PI * k) / size);
    wIm[k] = Math.sin((-2 * Math.PI * k) / size);
  }
  return {
    size,
    forward(input, output) {
      // z[n] = x[2n] + i·x[2n+1]; X[k] = E[k] + W^k·O[k] with E, O recovered from Z.
      packed.set(input.subarray(0, size));
      inner.forward(packed, spectrum, scratch);
      for (let k = 0; k <= half; k++) {
        const a = k % half;
        const b = (half - k) % half;
        const zr = spectrum[a * 2];
        const zi = spectrum[a * 2 + 1];
        const cr = spectrum[b * 2];
        const ci = -spectrum[b * 2 + 1];
        const eRe = (zr + cr) / 2;
        const eIm = (zi + ci) / 2;
        // O = (Z - conj(Z[N-k])) / (2i)
        const dRe = zr - cr;
        const dIm = zi - ci;
        const oRe = dIm / 2;
        const oIm = -dRe / 2;
        output[k * 2] = eRe + wRe[k] * oRe - wIm[k] * oIm;
        output[k * 2 + 1] = eIm + wRe[k] * oIm + wIm[k] * oRe;
      }
    },
  };
}
