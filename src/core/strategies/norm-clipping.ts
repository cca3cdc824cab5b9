import type { Accumulator, Strategy } from '../strategy.ts';
import { l2Norm } from '../vector.ts';

/**
 * Wraps a strategy so that each update is scaled down to at most `maxNorm` (L2) before the inner strategy
 * sees it (Sun et al. 2019, "Can you really backdoor federated learning?"). Streaming when the inner
 * strategy is.
 */
export function withNormClipping(inner: Strategy, maxNorm: number): Strategy {
  if (!(maxNorm > 0)) throw new RangeError('maxNorm must be positive');
  return {
    name: `${inner.name}+clip(${maxNorm})`,
    createAccumulator(length): Accumulator {
      const acc = inner.createAccumulator(length);
      return {
        add(delta, numExamples) {
          const norm = l2Norm(delta);
          if (norm <= maxNorm) return acc.add(delta, numExamples);
          const scale = maxNorm / norm;
          acc.add(Float32Array.from(delta as ArrayLike<number>, (v) => v * scale), numExamples);
        },
        get count() {
          return acc.count;
        },
        get totalExamples() {
          return acc.totalExamples;
        },
        finish: () => acc.finish(),
      };
    },
  };
}
