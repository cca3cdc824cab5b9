/**
 * Clipping to an L2 norm S: the update scaled by min(1, S/‖u‖). What bounds one person's influence on the
 * sum, and so the sensitivity the noise is calibrated to.
 */
import { l2Norm } from '../vector.ts';

export interface Clipped {
  values: Float32Array;
  /** The norm before clipping. */
  norm: number;
  /** The factor applied: 1 when the update was within S. */
  factor: number;
}

export function clipToNorm(update: Float32Array, bound: number): Clipped {
  if (!(bound > 0 && Number.isFinite(bound))) throw new RangeError(`clip norm ${bound} is not a positive number`);
  const norm = l2Norm(update);
  // A hair under S, so float32 rounding of the scaled values cannot leave the norm a hair over it.
  const factor = norm > bound ? (bound / norm) * (1 - 1e-6) : 1;
  return { values: factor === 1 ? update.slice() : update.map((v) => v * factor), norm, factor };
}
