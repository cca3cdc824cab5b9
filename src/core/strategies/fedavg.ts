import type { Accumulator, Strategy } from '../strategy.ts';

/**
 * FedAvg (McMahan et al. 2017): the mean of the client deltas weighted by their example counts,
 * Σ nᵢ·Δᵢ / Σ nᵢ. The running sum is kept in double precision so that the order of arrival does not change
 * the result measurably.
 */
export const fedAvg: Strategy = {
  name: 'fedavg',
  createAccumulator: (length) => new WeightedMeanAccumulator(length),
};

class WeightedMeanAccumulator implements Accumulator {
  private readonly sum: Float64Array;
  count = 0;
  totalExamples = 0;

  constructor(length: number) {
    this.sum = new Float64Array(length);
  }

  add(delta: ArrayLike<number>, numExamples: number): void {
    if (delta.length !== this.sum.length) {
      throw new RangeError(`delta has ${delta.length} values, the model ${this.sum.length}`);
    }
    if (!(numExamples > 0) || !Number.isFinite(numExamples)) {
      throw new RangeError(`numExamples must be a positive number, got ${numExamples}`);
    }
    const sum = this.sum;
    for (let i = 0; i < sum.length; i++) sum[i]! += numExamples * delta[i]!;
    this.count += 1;
    this.totalExamples += numExamples;
  }

  finish(): Float32Array {
    if (this.count === 0) throw new Error('no update to aggregate');
    const mean = new Float32Array(this.sum.length);
    for (let i = 0; i < mean.length; i++) mean[i] = this.sum[i]! / this.totalExamples;
    return mean;
  }
}
