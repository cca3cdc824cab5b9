import { describe, expect, it } from 'vitest';
import { addInto, dequantize, quantizationScale, quantize, subtractInto } from './quantize.ts';

describe('quantization into Z_(2^32)', () => {
  it('round-trips within one step, and is unbiased', () => {
    const scale = quantizationScale(1, 100);
    const values = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 0.9);
    const back = dequantize(quantize(values, 1, scale, Math.random), scale);
    for (let i = 0; i < values.length; i++) expect(Math.abs(back[i]! - values[i]!)).toBeLessThanOrEqual(1 / scale + 1.2e-7); // a step, and float32 rounding of the result
    // Stochastic rounding: the mean of many roundings of 0.3 steps is 0.3 steps.
    const coarse = 10; // 10 steps per unit, so rounding matters
    const n = 20_000;
    const q = quantize(new Float32Array(n).fill(0.03), 1, coarse, Math.random);
    const mean = Array.from(new Int32Array(q.buffer)).reduce((a, b) => a + b, 0) / n;
    expect(mean).toBeGreaterThan(0.3 - 0.02);
    expect(mean).toBeLessThan(0.3 + 0.02);
  });

  it('cannot overflow: n clients at the bound, all rounding up, still read back as their true sum', () => {
    for (const n of [1, 10, 500]) {
      const scale = quantizationScale(2, n);
      const up = () => 0.999999999; // the worst rounding
      const sum = new Uint32Array(3);
      for (let k = 0; k < n; k++) addInto(sum, quantize(Float32Array.of(2, -2, 5), 2, scale, k % 2 ? up : () => 0));
      const back = dequantize(sum, scale);
      // +2 and the clamped 5 read back as +2n (within n steps); −2 as −2n; no wrap to the other sign.
      expect(back[0]).toBeGreaterThan(0);
      expect(Math.abs(back[0]! - 2 * n)).toBeLessThanOrEqual(n / scale + 1e-6);
      expect(Math.abs(back[1]! + 2 * n)).toBeLessThanOrEqual(n / scale + 1e-6);
      expect(back[2]).toBeCloseTo(back[0]!, 3);
    }
  });

  it('adds and subtracts modulo 2^32', () => {
    const a = Uint32Array.of(0xffffffff, 5, 0);
    addInto(a, Uint32Array.of(2, 0xfffffffe, 0));
    expect(Array.from(a)).toEqual([1, 3, 0]);
    subtractInto(a, Uint32Array.of(2, 4, 1));
    expect(Array.from(a)).toEqual([0xffffffff, 0xffffffff, 0xffffffff]);
    expect(() => addInto(a, new Uint32Array(2))).toThrow(/words/);
  });
});
