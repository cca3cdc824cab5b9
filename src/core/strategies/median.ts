import type { Strategy } from '../strategy.ts';
import { BufferedAccumulator, perCoordinate } from './buffered.ts';

/**
 * Coordinate-wise median (Yin et al. 2018): each parameter's change is the median of the clients' changes,
 * unweighted, so fewer than half the clients cannot move it arbitrarily far.
 */
export const median: Strategy = {
  name: 'median',
  createAccumulator: (length) =>
    new BufferedAccumulator(length, (deltas) =>
      perCoordinate(deltas, length, (s) => {
        const mid = s.length >> 1;
        return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
      }),
    ),
};
