import { describe, expect, it } from 'vitest';
import { createRng } from '../rng.ts';
import { withCentralDp } from './central-dp.ts';

describe('central DP (DP-FedAvg)', () => {
  it('publishes the clipped sum over a fixed denominator plus noise of standard deviation z·S/denominator', () => {
    const length = 20_000;
    const [clipNorm, noiseMultiplier, expectedClients] = [2, 1.5, 4];
    const rng = createRng(5);
    const updates = [0, 1, 2].map(() => Float32Array.from({ length }, () => (rng() - 0.5) * 0.01)); // norms well under S
    const acc = withCentralDp({ clipNorm, noiseMultiplier, expectedClients }).createAccumulator(length);
    updates.forEach((u, k) => acc.add(u, 10 * (k + 1))); // example counts do not weight
    const published = acc.finish();
    const noise = Float64Array.from(published, (p, i) => p * expectedClients - updates.reduce((s, u) => s + u[i]!, 0));
    const mean = noise.reduce((a, b) => a + b, 0) / length;
    const sd = Math.sqrt(noise.reduce((a, b) => a + (b - mean) ** 2, 0) / (length - 1));
    expect(Math.abs(mean)).toBeLessThan((5 * noiseMultiplier * clipNorm) / Math.sqrt(length));
    expect(Math.abs(sd / (noiseMultiplier * clipNorm) - 1)).toBeLessThan(0.03);
    expect(acc.count).toBe(3);
  });

  it('clips each update to S on the server, whatever the client sent', () => {
    const acc = withCentralDp({ clipNorm: 1, noiseMultiplier: 0, expectedClients: 1 }).createAccumulator(2);
    acc.add(Float32Array.of(30, 40), 1);
    const [a, b] = acc.finish();
    expect(a).toBeCloseTo(0.6, 5);
    expect(b).toBeCloseTo(0.8, 5);
  });
});
