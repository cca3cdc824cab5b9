/**
 * Central differential privacy for a round, DP-FedAvg style (McMahan et al. 2018): each update is clipped to
 * L2 norm S (the clients clip already; the coordinator clips again, so the bound holds whatever a client
 * sent), the clipped updates are summed with equal weight, Gaussian noise N(0, (z·S)²) from the CSPRNG is
 * added to every coordinate of the sum, and the noised sum is divided by a fixed denominator: the number of
 * updates the round expects, not the number that came. Equal weights and a fixed denominator keep one
 * person's effect on the published aggregate at most S / denominator whatever the others sent, which is
 * what the accountant assumes; example-count weights would let one client claim a larger share.
 *
 * The noise is drawn when the round aggregates, so no un-noised aggregate is ever published or stored.
 */
import type { Accumulator, Strategy } from '../strategy.ts';
import { clipToNorm } from './clip.ts';
import { gaussianNoise } from './noise.ts';

export interface CentralDpConfig {
  clipNorm: number;
  noiseMultiplier: number;
  /** The fixed denominator: the updates a round expects (its target). */
  expectedClients: number;
}

export function withCentralDp(config: CentralDpConfig, uniforms?: { draw(): number }): Strategy {
  const { clipNorm, noiseMultiplier, expectedClients } = config;
  if (!(clipNorm > 0) || !(noiseMultiplier >= 0) || !(expectedClients >= 1)) throw new RangeError('central DP needs a positive clip norm, a non-negative noise multiplier and at least one expected client');
  return {
    name: `dp-fedavg(S=${clipNorm}, z=${noiseMultiplier})`,
    createAccumulator(length): Accumulator {
      const sum = new Float64Array(length);
      let count = 0;
      let totalExamples = 0;
      return {
        add(delta, numExamples) {
          if (delta.length !== length) throw new RangeError(`delta has ${delta.length} values, the model ${length}`);
          const { values } = clipToNorm(Float32Array.from(delta), clipNorm);
          for (let i = 0; i < length; i++) sum[i]! += values[i]!;
          count += 1;
          totalExamples += numExamples;
        },
        get count() {
          return count;
        },
        get totalExamples() {
          return totalExamples;
        },
        finish() {
          if (count === 0) throw new Error('no update to aggregate');
          const noise = gaussianNoise(length, noiseMultiplier * clipNorm, uniforms);
          return Float32Array.from(sum, (s, i) => (s + noise[i]!) / expectedClients);
        },
      };
    },
  };
}
