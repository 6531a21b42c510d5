/**
 * Tensor data helpers for the ONNX boundary: float16 ↔ float32 conversion
 * (Node 20 has no Float16Array) and batch-row selection.
 */
import * as ort from 'onnxruntime-node';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half bits of a float32 value (round to nearest even). */
export function toHalf(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1))) half++;
    return sign | half;
  }
  // A rounding carry into the exponent is still the correctly rounded half.
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
  return sign | half;
}

/** float32 value of IEEE half bits. */
export function fromHalf(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** A float tensor of `type` ('float32' or 'float16') from float32 values. */
export function floatTensor(type: string, data: Float32Array, dims: readonly number[]): ort.Tensor {
  if (type === 'float16') {
    const bits = new Uint16Array(data.length);
    for (let i = 0; i < data.length; i++) bits[i] = toHalf(data[i]);
    return new ort.Tensor('float16', bits, dims);
  }
  return new ort.Tensor('float32', data, dims);
}

/** float32 view (or converted copy) of a float32/float16 tensor's data. */
export function float32Data(tensor: ort.Tensor): Float32Array {
  if (tensor.type === 'float32') return tensor.data as Float32Array;
  if (tensor.type === 'float16') {
    const bits = tensor.data as Uint16Array;
    const out = new Float32Array(bits.length);
    for (let i = 0; i < bits.length; i++) out[i] = fromHalf(bits[i]);
    return out;
  }
  throw new TypeError(`expected a float tensor, got ${tensor.type}`);
}

type TypedData = Float32Array | Uint16Array | BigInt64Array | Int32Array | Uint8Array;

/** A tensor holding only the given rows (first dimension) of `tensor`, in that order. */
export function selectRows(tensor: ort.Tensor, rows: readonly number[]): ort.Tensor {
  const dims = tensor.dims;
  const rowSize = dims.slice(1).reduce((a, b) => a * b, 1);
  const data = tensor.data as TypedData;
  const Ctor = data.constructor as new (length: number) => TypedData;
  const out = new Ctor(rows.length * rowSize);
  rows.forEach((row, i) => {
    (out as Float32Array).set((data as Float32Array).subarray(row * rowSize, (row + 1) * rowSize), i * rowSize);
  });
  return new ort.Tensor(tensor.type as 'float32', out as Float32Array, [rows.length, ...dims.slice(1)]);
}
