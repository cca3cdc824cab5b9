import { describe, expect, it } from 'vitest';
import { fedAvg } from './fedavg.ts';
import { getStrategy } from './index.ts';

describe('FedAvg', () => {
  it('averages [1] and [3] to [2] with equal weights', () => {
    const acc = fedAvg.createAccumulator(1);
    acc.add([1], 10);
    acc.add([3], 10);
    expect([...acc.finish()]).toEqual([2]);
  });

  it('weights each delta by its example count', () => {
    const acc = fedAvg.createAccumulator(2);
    acc.add([1, 0], 1);
    acc.add([4, 8], 3);
    // (1·[1,0] + 3·[4,8]) / 4 = [13/4, 24/4]
    expect([...acc.finish()]).toEqual([3.25, 6]);
    expect(acc.count).toBe(2);
    expect(acc.totalExamples).toBe(4);
  });

  it('gives the same result whatever the order of arrival', () => {
    const deltas = [[0.1, -2], [3.3, 0.7], [-1.5, 5]];
    const weights = [5, 17, 2];
    const forward = fedAvg.createAccumulator(2);
    const backward = fedAvg.createAccumulator(2);
    deltas.forEach((d, i) => forward.add(d, weights[i]!));
    [...deltas].reverse().forEach((d, i) => backward.add(d, [...weights].reverse()[i]!));
    expect([...forward.finish()]).toEqual([...backward.finish()]);
  });

  it('refuses a delta of the wrong length and a non-positive weight', () => {
    const acc = fedAvg.createAccumulator(3);
    expect(() => acc.add([1, 2], 1)).toThrow(/2 values, the model 3/);
    expect(() => acc.add([1, 2, 3], 0)).toThrow(/positive/);
    expect(acc.count).toBe(0);
  });

  it('has nothing to finish before an update arrives', () => {
    expect(() => fedAvg.createAccumulator(1).finish()).toThrow(/no update/);
  });

  it('is found by name in the strategy table', () => {
    expect(getStrategy('fedavg')).toBe(fedAvg);
    expect(() => getStrategy('nope')).toThrow(/unknown aggregation strategy/);
  });
});
