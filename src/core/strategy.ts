/**
 * The aggregation contract. A strategy turns the round's accepted updates into one aggregate delta. Updates
 * arrive one at a time and are folded in at once (streaming), so the coordinator's memory depends on the
 * model's size, never on how many clients report.
 */
export interface Accumulator {
  /** Folds in one client's delta, which trained on `numExamples` examples. */
  add(delta: ArrayLike<number>, numExamples: number): void;
  /** Updates folded in so far. */
  readonly count: number;
  /** Examples behind the updates folded in so far. */
  readonly totalExamples: number;
  /** The aggregate delta to add to the global model. Throws when nothing was added. */
  finish(): Float32Array;
}

export interface Strategy {
  readonly name: string;
  createAccumulator(length: number): Accumulator;
}
