import { CodecError, defaultRandom, viewOf, type Codec } from '../codec.ts';
import { gapBytes, keptCount, selectLargest, writeGaps } from './sparse.ts';
import { INT8_LEVELS, MAX_SCALE, roundStochastically } from './stochastic-rounding.ts';
import { readSparseHeader } from './topk.ts';

/**
 * `topk-int8:ρ`: top-k, and the kept values in int8 with one scale (max|kept| / 127) and stochastic rounding:
 * about 2.3 bytes a kept value instead of 5.3. What it drops and what rounding changes both go back into the
 * client's residual (error feedback).
 *
 * | offset | size | field |
 * |---|---|---|
 * | 0 | 4 | m, values sent, uint32 little-endian, at most ⌈ρ·n⌉ |
 * | 4 | 4 | scale, float32 little-endian, finite and ≥ 0 |
 * | 8 | G | m indices, ascending, as LEB128 gaps |
 * | 8 + G | m | the values q, int8 in −127 … 127; value = q·scale |
 */
export function topkInt8(rho: number): Codec {
  return {
    id: 4,
    name: `topk-int8:${rho}`,
    needsErrorFeedback: true,
    maxEncodedBytes: (length) => 8 + 6 * keptCount(length, rho),
    encode(delta, random = defaultRandom()) {
      const indices = selectLargest(delta, keptCount(delta.length, rho));
      const at = 8 + gapBytes(indices);
      const bytes = new Uint8Array(at + indices.length);
      const view = viewOf(bytes);
      view.setUint32(0, indices.length, true);
      let max = 0;
      for (const index of indices) max = Math.max(max, Math.abs(delta[index]!));
      view.setFloat32(4, max / INT8_LEVELS, true);
      const scale = view.getFloat32(4, true);
      writeGaps(indices, bytes, 8);
      const values = new Int8Array(bytes.buffer, at, indices.length);
      for (let k = 0; k < indices.length; k++) values[k] = roundStochastically(delta[indices[k]!]!, scale, random);
      return bytes;
    },
    decode(payload, length) {
      const { indices, end } = readSparseHeader(payload, length, rho, 8);
      const scale = viewOf(payload).getFloat32(4, true);
      if (!(scale >= 0 && scale <= MAX_SCALE)) throw new CodecError(`topk-int8 scale is ${scale}, not in 0…${MAX_SCALE} (127 steps of it must stay finite)`);
      if (payload.byteLength !== end + indices.length) {
        throw new CodecError(`topk-int8 payload has ${payload.byteLength} bytes, expected ${end + indices.length} for ${indices.length} values`);
      }
      const values = new Int8Array(payload.buffer, payload.byteOffset + end, indices.length);
      const out = new Float32Array(length);
      for (let k = 0; k < indices.length; k++) {
        if (values[k]! < -INT8_LEVELS) throw new CodecError(`value ${k} is −128, outside −127…127`);
        out[indices[k]!] = values[k]! * scale;
      }
      return out;
    },
  };
}
