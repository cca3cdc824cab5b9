import { describe, expect, it } from 'vitest';
import type { Strategy } from '../strategy.ts';
import { fedAvg } from './fedavg.ts';
import { krum, krumOrder, multiKrum, tolerated } from './krum.ts';
import { median } from './median.ts';
import { withNormClipping } from './norm-clipping.ts';
import { trimmedMean } from './trimmed-mean.ts';

function aggregate(strategy: Strategy, deltas: number[][], weights = deltas.map(() => 1)): number[] {
  const acc = strategy.createAccumulator(deltas[0]!.length);
  deltas.forEach((d, i) => acc.add(d, weights[i]!));
  return [...acc.finish()];
}

// Four honest clients near 1 and one attacker far away.
const honestAndOne = [[1], [2], [1], [2], [1000]];

describe('robust strategies', () => {
  it('median takes the middle value per coordinate, ignoring weights', () => {
    expect(aggregate(median, [[1, 10], [3, -10], [2, 0]])).toEqual([2, 0]);
    expect(aggregate(median, [[1], [4]])).toEqual([2.5]);
    expect(aggregate(median, honestAndOne, [1, 1, 1, 1, 1000])).toEqual([2]);
  });

  it('trimmed mean drops ⌊0.2·n⌋ values at each end', () => {
    // n = 5: drop 1 low (1) and 1 high (1000): mean of [1, 2, 2] = 5/3
    expect(aggregate(trimmedMean, honestAndOne)[0]).toBeCloseTo(5 / 3, 6);
    // n = 4: nothing dropped, the plain mean
    expect(aggregate(trimmedMean, [[1], [2], [3], [4]])).toEqual([2.5]);
  });

  it('Krum picks the update closest to its neighbours; Multi-Krum averages the n − f best', () => {
    expect(tolerated(5)).toBe(1);
    expect(krumOrder(honestAndOne.map((d) => Float32Array.from(d))).at(-1)).toBe(4);
    expect([1, 2]).toContain(aggregate(krum, honestAndOne)[0]);
    // n − f = 4 best are the honest ones: mean of [1, 2, 1, 2]
    expect(aggregate(multiKrum, honestAndOne)).toEqual([1.5]);
  });

  it('FedAvg is pulled far off by the attacker, the robust ones are not', () => {
    expect(aggregate(fedAvg, honestAndOne)[0]).toBeGreaterThan(200);
    for (const s of [median, trimmedMean, krum, multiKrum]) expect(aggregate(s, honestAndOne)[0]).toBeLessThan(2.01);
  });

  it('norm clipping scales an update down to the bound before the inner strategy', () => {
    const clipped = withNormClipping(fedAvg, 5);
    expect(aggregate(clipped, [[3, 4]])).toEqual([3, 4]); // norm 5: untouched
    expect(aggregate(clipped, [[30, 40]])).toEqual([3, 4]); // norm 50 → 5
    expect(aggregate(clipped, [[30, 40], [0, 0]])).toEqual([1.5, 2]);
    expect(clipped.name).toBe('fedavg+clip(5)');
  });
});
