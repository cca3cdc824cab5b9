import { CodecError, defaultRandom, viewOf, type Codec } from '../codec.ts';
import { INT8_LEVELS, MAX_SCALE, roundStochastically, scaleFor } from './stochastic-rounding.ts';

/**
 * 8 bits a parameter, a float32 scale per chunk of {@link INT8_CHUNK} values, stochastic rounding (unbiased:
 * the mean of many decodes converges to the input). A value's error is below its chunk's scale,
 * max|x| / 127; chunks keep one large value from costing a whole tensor its resolution.
 *
 * | offset | size | field |
 * |---|---|---|
 * | 0 | 4 | chunk size C, uint32 little-endian (64 … 65536) |
 * | 4 | 4·⌈n/C⌉ | scales, float32 little-endian, finite and ≥ 0 |
 * | 4 + 4·⌈n/C⌉ | n | values q, int8 in −127 … 127; value i is q·scale[⌊i/C⌋] |
 */
export const INT8_CHUNK = 512;
const MIN_CHUNK = 64;
const MAX_CHUNK = 65536;

export const int8: Codec = {
  id: 2,
  name: 'int8',
  needsErrorFeedback: false,
  maxEncodedBytes: (length) => int8Bytes(length, MIN_CHUNK),
  encode(delta, random = defaultRandom()) {
    return encodeInt8(delta, INT8_CHUNK, random);
  },
  decode(payload, length) {
    if (payload.byteLength < 4) throw new CodecError(`int8 payload of ${payload.byteLength} bytes has no chunk size`);
    const view = viewOf(payload);
    const chunk = view.getUint32(0, true);
    if (chunk < MIN_CHUNK || chunk > MAX_CHUNK) throw new CodecError(`int8 chunk size ${chunk} is outside ${MIN_CHUNK}–${MAX_CHUNK}`);
    const expected = int8Bytes(length, chunk);
    if (payload.byteLength !== expected) throw new CodecError(`int8 payload has ${payload.byteLength} bytes, expected ${expected} for ${length} values in chunks of ${chunk}`);
    const chunks = Math.ceil(length / chunk);
    const scales = new Float32Array(chunks);
    for (let c = 0; c < chunks; c++) {
      const s = view.getFloat32(4 + 4 * c, true);
      if (!(s >= 0 && s <= MAX_SCALE)) throw new CodecError(`int8 scale ${c} is ${s}, not in 0…${MAX_SCALE} (127 steps of it must stay finite)`);
      scales[c] = s;
    }
    const values = new Int8Array(payload.buffer, payload.byteOffset + 4 + 4 * chunks, length);
    const out = new Float32Array(length);
    for (let i = 0; i < length; i++) {
      const q = values[i]!;
      if (q < -INT8_LEVELS) throw new CodecError(`int8 value ${i} is −128, outside −127…127`);
      out[i] = q * scales[(i / chunk) | 0]!;
    }
    return out;
  },
};

const int8Bytes = (length: number, chunk: number): number => 4 + 4 * Math.ceil(length / chunk) + length;

export function encodeInt8(delta: Float32Array, chunk: number, random: () => number): Uint8Array<ArrayBuffer> {
  const chunks = Math.ceil(delta.length / chunk);
  const bytes = new Uint8Array(int8Bytes(delta.length, chunk));
  const view = viewOf(bytes);
  view.setUint32(0, chunk, true);
  const values = new Int8Array(bytes.buffer, 4 + 4 * chunks, delta.length);
  for (let c = 0; c < chunks; c++) {
    const from = c * chunk;
    const to = Math.min(delta.length, from + chunk);
    const scale = scaleFor(delta, from, to);
    if (!Number.isFinite(scale)) throw new CodecError(`chunk ${c} holds a value that is not finite`);
    view.setFloat32(4 + 4 * c, scale, true);
    // The scale as it travels (float32): rounding against it keeps |q| ≤ 127 and the decode unbiased.
    const sent = view.getFloat32(4 + 4 * c, true);
    for (let i = from; i < to; i++) values[i] = roundStochastically(delta[i]!, sent, random);
  }
  return bytes;
}
