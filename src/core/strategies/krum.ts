import type { Strategy } from '../strategy.ts';
import { BufferedAccumulator } from './buffered.ts';

/**
 * Krum and Multi-Krum (Blanchard et al. 2017). Each update is scored by the summed squared distance to its
 * n − f − 2 nearest neighbours, where f, the number of hostile clients tolerated, is ⌊(n − 3) / 2⌋. Krum
 * takes the best-scored update; Multi-Krum averages the n − f best (weighted by example counts).
 */
export const krum: Strategy = {
  name: 'krum',
  createAccumulator: (length) => new BufferedAccumulator(length, (deltas, weights) => selectAndAverage(deltas, weights, 1)),
};

export const multiKrum: Strategy = {
  name: 'multi-krum',
  createAccumulator: (length) =>
    new BufferedAccumulator(length, (deltas, weights) => selectAndAverage(deltas, weights, deltas.length - tolerated(deltas.length))),
};

export const tolerated = (n: number): number => Math.max(0, Math.floor((n - 3) / 2));

/** Indices of the updates ordered by Krum score, best first. */
export function krumOrder(deltas: readonly Float32Array[]): number[] {
  const n = deltas.length;
  const neighbours = Math.max(1, n - tolerated(n) - 2);
  const dist = Array.from({ length: n }, () => new Float64Array(n));
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      let d = 0;
      const a = deltas[i]!, b = deltas[j]!;
      for (let k = 0; k < a.length; k++) d += (a[k]! - b[k]!) ** 2;
      dist[i]![j] = dist[j]![i] = d;
    }
  }
  const score = dist.map((row, i) => {
    const others = [...row].filter((_, j) => j !== i).sort((x, y) => x - y);
    return others.slice(0, Math.min(neighbours, others.length)).reduce((s, d) => s + d, 0);
  });
  return score.map((_, i) => i).sort((i, j) => score[i]! - score[j]! || i - j);
}

function selectAndAverage(deltas: readonly Float32Array[], weights: readonly number[], keep: number): Float32Array {
  const chosen = krumOrder(deltas).slice(0, Math.max(1, keep));
  const out = new Float32Array(deltas[0]!.length);
  const total = chosen.reduce((s, i) => s + weights[i]!, 0);
  for (const i of chosen) {
    const d = deltas[i]!, w = weights[i]! / total;
    for (let k = 0; k < out.length; k++) out[k]! += w * d[k]!;
  }
  return out;
}
