import type { Strategy } from '../strategy.ts';
import { BufferedAccumulator, perCoordinate } from './buffered.ts';

/** Share of the values dropped at each end of every coordinate. */
export const TRIM_FRACTION = 0.2;

/**
 * Coordinate-wise trimmed mean (Yin et al. 2018): for each parameter, drop the lowest and the highest
 * ⌊β·n⌋ client values (β = 0.2) and average the rest. Robust to up to β of the clients being hostile.
 */
export const trimmedMean: Strategy = {
  name: 'trimmed-mean',
  createAccumulator: (length) =>
    new BufferedAccumulator(length, (deltas) => {
      const trim = Math.floor(TRIM_FRACTION * deltas.length);
      return perCoordinate(deltas, length, (s) => {
        let sum = 0;
        for (let k = trim; k < s.length - trim; k++) sum += s[k]!;
        return sum / (s.length - 2 * trim);
      });
    }),
};
