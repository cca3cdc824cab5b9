/**
 * Secure aggregation adds vectors in Z_(2³²): each client's clipped update is quantized to integers with a
 * fixed scale, masked, and summed modulo 2³²; the sum of the masks cancels and what is left is the sum of
 * the quantized updates, read back as a signed 32-bit integer.
 *
 * Overflow is ruled out by the scale: every value is clamped to [−c, c] (c bounds a coordinate: an update
 * clipped to L2 norm S has no coordinate above S), and rounds to an integer of magnitude at most c·scale + 1.
 * With scale = (2³¹ − 1 − n) / (n·c), the sum of n such integers is at most n·c·scale + n = 2³¹ − 1 in
 * magnitude, so the signed reading of the modular sum is the true sum. Rounding is ⌊x·scale + u⌋: with u
 * uniform in [0, 1) it is stochastic and unbiased; secure aggregation's clients use u = ½ (nearest), since its
 * steps are tiny and a deterministic rounding lets anyone who knows the updates reproduce the sum to the bit.
 */

/** The scale for `maxClients` values of at most `bound` in magnitude. */
export function quantizationScale(bound: number, maxClients: number): number {
  if (!(bound > 0 && Number.isFinite(bound))) throw new RangeError(`bound ${bound} must be a positive number`);
  if (!Number.isInteger(maxClients) || maxClients < 1 || maxClients > 1e6) throw new RangeError(`maxClients ${maxClients} must be an integer 1–1e6`);
  return (2 ** 31 - 1 - maxClients) / (maxClients * bound);
}

/** The values clamped to [−bound, bound], scaled, rounded stochastically, as two's-complement words. */
export function quantize(values: Float32Array, bound: number, scale: number, random: () => number): Uint32Array {
  const out = new Uint32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    const clamped = Number.isNaN(v) ? 0 : Math.max(-bound, Math.min(bound, v));
    out[i] = Math.floor(clamped * scale + random()) >>> 0;
  }
  return out;
}

/** The sum of quantized vectors, read as signed integers and scaled back. */
export function dequantize(sum: Uint32Array, scale: number): Float32Array {
  const out = new Float32Array(sum.length);
  const signed = new Int32Array(sum.buffer, sum.byteOffset, sum.length);
  for (let i = 0; i < sum.length; i++) out[i] = signed[i]! / scale;
  return out;
}

/** `into += add` modulo 2³², in place. */
export function addInto(into: Uint32Array, add: Uint32Array): Uint32Array {
  if (into.length !== add.length) throw new RangeError(`vectors of ${into.length} and ${add.length} words`);
  for (let i = 0; i < into.length; i++) into[i] = (into[i]! + add[i]!) >>> 0;
  return into;
}

/** `into −= sub` modulo 2³², in place. */
export function subtractInto(into: Uint32Array, sub: Uint32Array): Uint32Array {
  if (into.length !== sub.length) throw new RangeError(`vectors of ${into.length} and ${sub.length} words`);
  for (let i = 0; i < into.length; i++) into[i] = (into[i]! - sub[i]!) >>> 0;
  return into;
}
