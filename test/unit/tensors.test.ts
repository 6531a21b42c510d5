import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { float32Data, floatTensor, fromHalf, selectRows, toHalf } from '../../src/inference/model/tensors.js';

describe('float16 conversion', () => {
  it('round-trips values exactly representable in half precision', () => {
    for (const v of [0, 1, -2, 0.5, 65504, -65504, 2 ** -14, 2 ** -24, 3.140625]) expect(fromHalf(toHalf(v))).toBe(v);
    expect(fromHalf(toHalf(Infinity))).toBe(Infinity);
    expect(Number.isNaN(fromHalf(toHalf(NaN)))).toBe(true);
    expect(fromHalf(toHalf(1e6))).toBe(Infinity);
  });

  it('rounds to the nearest half (ties to even) within half an ulp', () => {
    expect(toHalf(1 + 2 ** -11)).toBe(toHalf(1)); // tie → even mantissa
    expect(fromHalf(toHalf(1 + 3 * 2 ** -11))).toBe(1 + 2 ** -9); // tie → even (up)
    for (const v of [0.1, 3.3, -7.77, 1234.5678]) expect(Math.abs(fromHalf(toHalf(v)) - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -11);
  });

  it('builds float16 tensors and reads them back as float32', () => {
    const t = floatTensor('float16', Float32Array.from([1, 2.5, -3]), [3]);
    expect(t.type).toBe('float16');
    expect(Array.from(float32Data(t))).toEqual([1, 2.5, -3]);
    expect(floatTensor('float32', Float32Array.from([1]), [1]).type).toBe('float32');
  });
});

describe('selectRows', () => {
  it('keeps the given rows of the first dimension in order', () => {
    const t = new ort.Tensor('float32', Float32Array.from([0, 1, 10, 11, 20, 21]), [3, 1, 2]);
    const picked = selectRows(t, [2, 0]);
    expect(picked.dims).toEqual([2, 1, 2]);
    expect(Array.from(picked.data as Float32Array)).toEqual([20, 21, 0, 1]);
    const empty = new ort.Tensor('float32', new Float32Array(0), [3, 2, 0, 4]);
    expect(selectRows(empty, [1]).dims).toEqual([1, 2, 0, 4]);
  });
});
