import { describe, expect, it } from 'vitest';
import { asWeights } from './ids.ts';
import { applyDelta, findNonFinite, l2Norm, subtractWeights } from './vector.ts';

const w = (...v: number[]) => asWeights(Float32Array.from(v));

describe('weight vectors', () => {
  it('subtracts and re-applies a delta exactly', () => {
    const global = w(1, 2, 3);
    const local = w(1.5, 1, 3);
    const delta = subtractWeights(local, global);
    expect([...delta]).toEqual([0.5, -1, 0]);
    expect([...applyDelta(global, delta)]).toEqual([...local]);
  });

  it('refuses vectors of different lengths', () => {
    expect(() => subtractWeights(w(1), w(1, 2))).toThrow(/lengths differ/);
  });

  it('measures the L2 norm', () => {
    expect(l2Norm([3, 4])).toBe(5);
  });

  it('finds the first non-finite value', () => {
    expect(findNonFinite([1, 2])).toBe(-1);
    expect(findNonFinite([1, NaN, Infinity])).toBe(1);
    expect(findNonFinite(Float32Array.of(0, -Infinity))).toBe(1);
  });
});
