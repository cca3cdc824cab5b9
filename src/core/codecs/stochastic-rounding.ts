/**
 * Stochastic rounding to int8 with a scale: `x` becomes q·scale where q is ⌊x/scale⌋ or ⌈x/scale⌉, the upper
 * with probability equal to the fractional part, so E[q·scale] = x exactly (unbiased) and |q| ≤ 127 when
 * scale = max|x| / 127. Shared by the codecs that send int8 values.
 */
export const INT8_LEVELS = 127;
/** The largest scale a payload may carry: 127 steps of it stay below float32's largest value. */
export const MAX_SCALE = 3.4028234663852886e38 / INT8_LEVELS;

/** max|x| / 127 over values[from, to); NaN when one of them is NaN, Infinity when one is infinite. */
export function scaleFor(values: Float32Array, from = 0, to = values.length): number {
  let max = 0;
  for (let i = from; i < to; i++) {
    const a = Math.abs(values[i]!);
    if (Number.isNaN(a)) return NaN;
    if (a > max) max = a;
  }
  return max / INT8_LEVELS;
}

export function roundStochastically(x: number, scale: number, random: () => number): number {
  if (scale === 0) return 0;
  const y = x / scale;
  const floor = Math.floor(y);
  const q = random() < y - floor ? floor + 1 : floor;
  // x/scale can pass ±127 by a rounding error of the division: never past the range.
  return q > INT8_LEVELS ? INT8_LEVELS : q < -INT8_LEVELS ? -INT8_LEVELS : q;
}
