/**
 * What the top-k codecs share: choosing the k largest magnitudes, and writing their indices as gaps in
 * LEB128 (7 bits a byte, high bit set on every byte but a number's last). Gaps between ascending indices are
 * small when k is a fair fraction of n, so most take one byte.
 */
import { CodecError } from '../codec.ts';

/** Values kept for a vector of `length` at density `rho`: ⌈ρ·n⌉, at least 1 (none of none). */
export const keptCount = (length: number, rho: number): number =>
  // Rounded to 1e-9 first: 0.07 × 100 is 7.000000000000001 in floating point, and keeps 7, not 8.
  length === 0 ? 0 : Math.max(1, Math.ceil(Math.round(rho * length * 1e9) / 1e9));

/** The indices, ascending, of the (at most) k values of largest magnitude; zeros are never kept. */
export function selectLargest(values: Float32Array, k: number): Uint32Array {
  if (k <= 0) return new Uint32Array(0);
  const magnitudes = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const a = Math.abs(values[i]!);
    if (!Number.isFinite(a)) throw new CodecError(`value ${i} is ${values[i]}, not finite`);
    magnitudes[i] = a;
  }
  const threshold = k >= values.length ? 0 : kthLargest(magnitudes.slice(), k);
  // Strictly above the threshold first, then ties at it, until k: exactly the k largest.
  let above = 0;
  for (let i = 0; i < magnitudes.length; i++) if (magnitudes[i]! > threshold) above++;
  let ties = Math.min(k - above, threshold > 0 ? values.length : 0);
  const out = new Uint32Array(above + ties);
  let n = 0;
  for (let i = 0; i < magnitudes.length; i++) {
    const a = magnitudes[i]!;
    if (a > threshold || (a === threshold && a > 0 && ties-- > 0)) out[n++] = i;
  }
  return out.subarray(0, n);
}

/** Hoare's quickselect: the k-th largest of `a` (1-based), reordering `a`. */
function kthLargest(a: Float32Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  const target = k - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >>> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! > pivot) i++;
      while (a[j]! < pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i++] = a[j]!;
        a[j--] = t;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return a[target]!;
  }
  return a[target]!;
}

/** Bytes the gaps of `indices` take in LEB128. */
export function gapBytes(indices: Uint32Array): number {
  let bytes = 0;
  let previous = -1;
  for (const index of indices) {
    bytes += leb128Length(index - previous - 1);
    previous = index;
  }
  return bytes;
}

export function writeGaps(indices: Uint32Array, out: Uint8Array, offset: number): number {
  let previous = -1;
  let at = offset;
  for (const index of indices) {
    let gap = index - previous - 1;
    previous = index;
    while (gap >= 0x80) {
      out[at++] = (gap & 0x7f) | 0x80;
      gap >>>= 7;
    }
    out[at++] = gap;
  }
  return at;
}

/** Reads `count` gaps from `bytes` at `offset`; every index must be below `length`. Returns the indices and where the gaps end. */
export function readGaps(bytes: Uint8Array, offset: number, count: number, length: number): { indices: Uint32Array; end: number } {
  const indices = new Uint32Array(count);
  let at = offset;
  let previous = -1;
  for (let k = 0; k < count; k++) {
    let gap = 0;
    for (let shift = 0; ; shift += 7) {
      if (at >= bytes.byteLength) throw new CodecError(`payload ends inside index ${k} of ${count}`);
      if (shift > 28) throw new CodecError(`index gap ${k} is longer than 5 bytes`);
      const byte = bytes[at++]!;
      gap += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) break;
    }
    const index = previous + 1 + gap;
    if (index >= length) throw new CodecError(`index ${index} (entry ${k}) is outside a vector of ${length} values`);
    indices[k] = previous = index;
  }
  return { indices, end: at };
}

const leb128Length = (n: number): number => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5);
