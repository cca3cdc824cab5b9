import { describe, expect, it } from 'vitest';
import { createRng } from '../rng.ts';
import { l2Norm } from '../vector.ts';
import { clipToNorm } from './clip.ts';
import { gaussianNoise, SecureUniforms } from './noise.ts';

describe('Gaussian noise from the CSPRNG', () => {
  it('has mean 0 and variance σ² (200,000 draws, bounds at 5 standard errors)', () => {
    const n = 200_000;
    const sigma = 2.5;
    const x = gaussianNoise(n, sigma);
    const mean = x.reduce((a, b) => a + b, 0) / n;
    const variance = x.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
    expect(Math.abs(mean)).toBeLessThan((5 * sigma) / Math.sqrt(n));
    // The sample variance's standard error is σ²·√(2/(n−1)).
    expect(Math.abs(variance - sigma * sigma)).toBeLessThan(5 * sigma * sigma * Math.sqrt(2 / (n - 1)));
    // Normal tails: about 4.55 % beyond 2σ, 0.27 % beyond 3σ.
    const beyond = (k: number) => x.filter((v) => Math.abs(v) > k * sigma).length / n;
    expect(beyond(2)).toBeGreaterThan(0.0435);
    expect(beyond(2)).toBeLessThan(0.0475);
    expect(beyond(3)).toBeGreaterThan(0.0022);
    expect(beyond(3)).toBeLessThan(0.0032);
  });

  it('draws uniforms in (0, 1], never 0, from getRandomValues', () => {
    const u = new SecureUniforms();
    const draws = Array.from({ length: 100_000 }, () => u.draw());
    expect(Math.min(...draws)).toBeGreaterThan(0);
    expect(Math.max(...draws)).toBeLessThanOrEqual(1);
    expect(Math.abs(draws.reduce((a, b) => a + b, 0) / draws.length - 0.5)).toBeLessThan(0.005);
  });

  it('is the Box–Muller transform of its uniforms (a hand-checkable pair)', () => {
    const fixed = [Math.exp(-0.5), 0.25]; // radius √(−2 ln e^−½) = 1, angle π/2
    let k = 0;
    const [a, b] = gaussianNoise(2, 3, { draw: () => fixed[k++]! });
    expect(a).toBeCloseTo(0, 12);
    expect(b).toBeCloseTo(3, 12);
  });
});

describe('clipping', () => {
  it('bounds every update by S and leaves smaller ones alone', () => {
    const rng = createRng(3);
    for (let t = 0; t < 200; t++) {
      const u = Float32Array.from({ length: 1 + Math.floor(rng() * 500) }, () => (rng() - 0.5) * 10 ** (rng() * 6 - 3));
      const { values, norm, factor } = clipToNorm(u, 1);
      expect(l2Norm(values)).toBeLessThanOrEqual(1);
      if (norm <= 1) expect(values).toEqual(u);
      else expect(factor).toBeCloseTo(1 / norm, 5);
    }
    expect(Array.from(clipToNorm(Float32Array.of(3, 4), 1).values).map((v) => +v.toFixed(5))).toEqual([0.6, 0.8]);
  });
});
