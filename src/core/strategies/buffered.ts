import type { Accumulator } from '../strategy.ts';

/**
 * An accumulator that keeps every delta, for strategies that must see all updates at once (median, trimmed
 * mean, Krum). Memory grows with the number of clients × the model's size: these suit rounds of tens to
 * hundreds of clients, as robust aggregation is used in practice; FedAvg stays streaming.
 */
export class BufferedAccumulator implements Accumulator {
  readonly deltas: Float32Array[] = [];
  readonly weights: number[] = [];
  totalExamples = 0;

  constructor(
    private readonly length: number,
    private readonly combine: (deltas: Float32Array[], weights: number[], length: number) => Float32Array,
  ) {}

  get count(): number {
    return this.deltas.length;
  }

  add(delta: ArrayLike<number>, numExamples: number): void {
    if (delta.length !== this.length) throw new RangeError(`delta has ${delta.length} values, the model ${this.length}`);
    if (!(numExamples > 0) || !Number.isFinite(numExamples)) throw new RangeError(`numExamples must be a positive number, got ${numExamples}`);
    this.deltas.push(Float32Array.from(delta));
    this.weights.push(numExamples);
    this.totalExamples += numExamples;
  }

  finish(): Float32Array {
    if (this.deltas.length === 0) throw new Error('no update to aggregate');
    return this.combine(this.deltas, this.weights, this.length);
  }
}

/** Applies `reduce` to each coordinate's values across the clients (sorted ascending). */
export function perCoordinate(deltas: readonly Float32Array[], length: number, reduce: (sorted: Float64Array) => number): Float32Array {
  const out = new Float32Array(length);
  const column = new Float64Array(deltas.length);
  for (let i = 0; i < length; i++) {
    for (let k = 0; k < deltas.length; k++) column[k] = deltas[k]![i]!;
    column.sort();
    out[i] = reduce(column);
  }
  return out;
}
