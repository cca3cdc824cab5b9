/**
 * A codec turns a weight delta into the bytes that travel and back. Lossy codecs (f16, int8, top-k) are
 * further files implementing this interface, registered in `codecs/index.ts`.
 */
export interface Codec {
  /** Stable wire id, written into every update frame. Never reuse one. */
  readonly id: number;
  readonly name: string;
  /** Payload size for a delta of `length` values, or null when it depends on the values. */
  encodedBytes(length: number): number | null;
  encode(delta: Float32Array): Uint8Array;
  /** Decodes a payload made by `encode` for a delta of `length` values; throws a CodecError when it cannot. */
  decode(payload: Uint8Array, length: number): Float32Array;
}

export class CodecError extends Error {
  override readonly name = 'CodecError';
}
