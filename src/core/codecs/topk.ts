import { CodecError, viewOf, type Codec } from '../codec.ts';
import { gapBytes, keptCount, readGaps, selectLargest, writeGaps } from './sparse.ts';

/**
 * `topk:ρ`: only the ⌈ρ·n⌉ values of largest magnitude travel, exactly (float32), with their indices as
 * LEB128 gaps. Biased on its own, so the client keeps what it did not send and adds it to its next update
 * (error feedback, `core/error-feedback.ts`); Stich et al. 2018 and Karimireddy et al. 2019 show SGD with
 * it converges like the uncompressed one.
 *
 * | offset | size | field |
 * |---|---|---|
 * | 0 | 4 | m, values sent, uint32 little-endian, at most ⌈ρ·n⌉ |
 * | 4 | G | m indices, ascending, as LEB128 gaps (index − previous index − 1; the first is its index) |
 * | 4 + G | 4·m | the values, float32 little-endian, finite |
 */
export function topk(rho: number): Codec {
  return {
    id: 3,
    name: `topk:${rho}`,
    needsErrorFeedback: true,
    maxEncodedBytes: (length) => 4 + 9 * keptCount(length, rho),
    encode(delta) {
      const indices = selectLargest(delta, keptCount(delta.length, rho));
      const bytes = new Uint8Array(4 + gapBytes(indices) + 4 * indices.length);
      const view = viewOf(bytes);
      view.setUint32(0, indices.length, true);
      let at = writeGaps(indices, bytes, 4);
      for (const index of indices) {
        view.setFloat32(at, delta[index]!, true);
        at += 4;
      }
      return bytes;
    },
    decode(payload, length) {
      const { indices, end } = readSparseHeader(payload, length, rho, 4);
      if (payload.byteLength !== end + 4 * indices.length) {
        throw new CodecError(`topk payload has ${payload.byteLength} bytes, expected ${end + 4 * indices.length} for ${indices.length} values`);
      }
      const view = viewOf(payload);
      const out = new Float32Array(length);
      for (let k = 0; k < indices.length; k++) {
        const value = view.getFloat32(end + 4 * k, true);
        if (!Number.isFinite(value)) throw new CodecError(`value ${k} (index ${indices[k]}) is ${value}, not finite`);
        out[indices[k]!] = value;
      }
      return out;
    },
  };
}

/** The count (at `0`) and the gaps (from `gapsAt`) of a top-k payload, checked against ⌈ρ·n⌉ and n. */
export function readSparseHeader(payload: Uint8Array, length: number, rho: number, gapsAt: number): { indices: Uint32Array; end: number } {
  if (payload.byteLength < gapsAt) throw new CodecError(`top-k payload of ${payload.byteLength} bytes is shorter than its header`);
  const count = viewOf(payload).getUint32(0, true);
  const most = keptCount(length, rho);
  if (count > most) throw new CodecError(`top-k payload sends ${count} values; ρ = ${rho} allows at most ${most} of ${length}`);
  return readGaps(payload, gapsAt, count, length);
}
