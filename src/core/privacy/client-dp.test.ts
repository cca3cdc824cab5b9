import { describe, expect, it } from 'vitest';
import { l2Norm } from '../vector.ts';
import { privatizeUpdate } from './client-dp.ts';

describe('what a client does to its update on a private task', () => {
  it('leaves a task without privacy alone', () => {
    const delta = Float32Array.of(3, 4);
    expect(privatizeUpdate(delta, {}).delta).toBe(delta);
  });

  it('clips to the round\'s norm, and reports the clip bit only when asked', () => {
    const over = privatizeUpdate(Float32Array.of(3, 4), { clipNorm: 1, reportClip: true });
    expect(l2Norm(over.delta)).toBeLessThanOrEqual(1);
    expect(over.delta[0]! / over.delta[1]!).toBeCloseTo(0.75, 6);
    expect(over.withinClip).toBe(false);
    expect(privatizeUpdate(Float32Array.of(0.3, 0.4), { clipNorm: 1, reportClip: true }).withinClip).toBe(true);
    expect(privatizeUpdate(Float32Array.of(0.3, 0.4), { clipNorm: 1 }).withinClip).toBeUndefined();
  });

  it('in local mode adds N(0, (z·S)²) to every coordinate of the clipped update', () => {
    const n = 40_000;
    const big = new Float32Array(n).fill(1); // norm 200, clipped to 2: each value 0.01
    const { delta } = privatizeUpdate(big, { clipNorm: 2, localNoise: 1.5 });
    const noise = Array.from(delta, (v) => v - 0.01);
    const mean = noise.reduce((a, b) => a + b, 0) / n;
    const sd = Math.sqrt(noise.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
    // σ = 3: the mean within 5 standard errors (3/√n = 0.015), the sd within 2 % (its standard error is 0.35 %).
    expect(Math.abs(mean)).toBeLessThan(5 * 0.015);
    expect(sd / 3).toBeGreaterThan(0.98);
    expect(sd / 3).toBeLessThan(1.02);
  });
});
