import { asWeightDelta, asWeights, type WeightDelta, type Weights } from './ids.ts';

/** `local − global`, element by element. Both must have the same length. */
export function subtractWeights(local: Weights, global: Weights): WeightDelta {
  assertSameLength(local.length, global.length);
  const delta = new Float32Array(local.length);
  for (let i = 0; i < local.length; i++) delta[i] = local[i]! - global[i]!;
  return asWeightDelta(delta);
}

/** `global + delta`, as a new vector. */
export function applyDelta(global: Weights, delta: ArrayLike<number>): Weights {
  assertSameLength(global.length, delta.length);
  const next = new Float32Array(global.length);
  for (let i = 0; i < global.length; i++) next[i] = global[i]! + delta[i]!;
  return asWeights(next);
}

/** Euclidean norm, accumulated in double precision. */
export function l2Norm(v: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i]! * v[i]!;
  return Math.sqrt(sum);
}

/** Index of the first NaN or ±Infinity, or -1 when every value is finite. */
export function findNonFinite(v: ArrayLike<number>): number {
  for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i]!)) return i;
  return -1;
}

function assertSameLength(a: number, b: number): void {
  if (a !== b) throw new RangeError(`vector lengths differ: ${a} vs ${b}`);
}
