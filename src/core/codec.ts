/**
 * A codec turns a weight delta into the bytes that travel and back. Each codec is one file under `codecs/`,
 * registered in `codecs/index.ts`; a task names one (`training.codec`), and its wire id is written into every
 * update frame. Lossy codecs state their error in their file; those that drop information rather than round
 * it (top-k) ask the client to keep what was not sent and add it to its next update (`error-feedback.ts`).
 */
export interface Codec {
  /** Stable wire id of the codec's family, written into every frame. Never reuse one. */
  readonly id: number;
  /** As a task names it, parameters included (`topk:0.01`). */
  readonly name: string;
  /** True when decoding does not give back (an unbiased estimate of) the input: the client keeps the rest. */
  readonly needsErrorFeedback: boolean;
  /** The largest payload this codec makes for `length` values: the coordinator's upload limit follows it. */
  maxEncodedBytes(length: number): number;
  /** `random` (uniform in [0, 1)) drives stochastic rounding where the codec has it; reproducible when seeded. */
  encode(delta: Float32Array, random?: () => number): Uint8Array<ArrayBuffer>;
  /**
   * Decodes a payload made by `encode` for a delta of `length` values. Throws a CodecError naming what is
   * wrong with a payload it did not make: wrong size, counts or indices out of range, non-finite values.
   */
  decode(payload: Uint8Array, length: number): Float32Array;
}

export class CodecError extends Error {
  override readonly name = 'CodecError';
}

/** A DataView over exactly `bytes`, wherever they sit in their buffer. */
export const viewOf = (bytes: Uint8Array): DataView => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/**
 * The default source for stochastic rounding: xorshift128+ seeded once from the platform's CSPRNG. Fast, and
 * not predictable from outside; rounding needs no more than that (it is no privacy noise).
 */
export function defaultRandom(): () => number {
  const seed = new Uint32Array(4);
  crypto.getRandomValues(seed);
  let [a, b, c, d] = [seed[0]! | 1, seed[1]!, seed[2]!, seed[3]!];
  return () => {
    // xoshiro128+ on 32-bit words
    const result = (a + d) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = (d << 11) | (d >>> 21);
    return result / 4294967296;
  };
}
