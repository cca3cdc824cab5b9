import { CodecError, viewOf, type Codec } from '../codec.ts';

/**
 * IEEE 754 half precision, little-endian, 2 bytes per parameter, rounded to nearest (ties to even).
 * Error: at most 2^-11 of a value's magnitude (about 0.05 %) for |x| ≥ 2^-14, and at most 2^-25 absolute
 * below, where halves are subnormal. Values past ±65504 (never a sane weight delta) are clamped to it.
 */
export const f16: Codec = {
  id: 1,
  name: 'f16',
  needsErrorFeedback: false,
  maxEncodedBytes: (length) => length * 2,
  encode(delta) {
    const bits = new Uint32Array(delta.buffer, delta.byteOffset, delta.length);
    const bytes = new Uint8Array(delta.length * 2);
    const view = viewOf(bytes);
    for (let i = 0; i < delta.length; i++) {
      if (!Number.isFinite(delta[i]!)) throw new CodecError(`value ${i} is ${delta[i]}, not finite`);
      view.setUint16(i * 2, toHalf(bits[i]!), true);
    }
    return bytes;
  },
  decode(payload, length) {
    if (payload.byteLength !== length * 2) {
      throw new CodecError(`f16 payload has ${payload.byteLength} bytes, expected ${length * 2} for ${length} values`);
    }
    const view = viewOf(payload);
    const table = halfTable();
    const out = new Float32Array(length);
    for (let i = 0; i < length; i++) {
      const h = view.getUint16(i * 2, true);
      if ((h & 0x7c00) === 0x7c00) throw new CodecError(`value ${i} is an f16 infinity or NaN`);
      out[i] = table[h]!;
    }
    return out;
  },
};

/** The half nearest to the float32 whose bits are `x` (ties to even), clamped to the largest finite half. */
export function toHalf(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exponent = ((x >>> 23) & 0xff) - 127 + 15;
  let mantissa = x & 0x7fffff;
  if (exponent >= 31) return sign | 0x7bff;
  if (exponent <= 0) {
    // Subnormal half: the implicit leading 1 becomes explicit and is shifted down with the rest.
    if (exponent < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - exponent;
    return sign | roundShift(mantissa, shift);
  }
  const half = (exponent << 10) + roundShift(mantissa, 13);
  // Rounding up may carry into the exponent: fine, except into infinity.
  return sign | Math.min(half, 0x7bff);
}

/** `value >> shift`, rounded to nearest, ties to even. */
function roundShift(value: number, shift: number): number {
  const kept = value >>> shift;
  const rest = value & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  return rest > halfway || (rest === halfway && (kept & 1) === 1) ? kept + 1 : kept;
}

let table: Float32Array | undefined;
/** Every half's value (infinities and NaNs included, though decode refuses them), made once. */
function halfTable(): Float32Array {
  if (table) return table;
  table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const exponent = (h >>> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    const magnitude = exponent === 0 ? mantissa * 2 ** -24 : exponent === 31 ? (mantissa ? NaN : Infinity) : (1 + mantissa / 1024) * 2 ** (exponent - 15);
    table[h] = h & 0x8000 ? -magnitude : magnitude;
  }
  return table;
}
