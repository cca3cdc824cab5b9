/**
 * Shamir's secret sharing (1979) over GF(2⁸), byte by byte: a secret of any length is split into n shares
 * so that any t of them give it back and any t − 1 of them are uniformly distributed whatever the secret
 * (each byte is the constant term of its own random polynomial of degree t − 1). Share x-coordinates are
 * 1…255, so one secret has at most 255 holders: SecAgg+ shares among a client's neighbours only, so a round
 * can be larger than that; the full graph is limited to 255 clients a round.
 *
 * GF(2⁸) with the AES polynomial x⁸ + x⁴ + x³ + x + 1 (0x11b) and generator 3, through log/antilog tables.
 */

const EXP = new Uint8Array(510);
const LOG = new Uint8Array(256);
{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    EXP[i + 255] = x;
    LOG[x] = i;
    // x · 3 = x · 2 ⊕ x, with x · 2 reduced by 0x11b.
    const doubled = (x << 1) ^ (x & 0x80 ? 0x11b : 0);
    x = doubled ^ x;
  }
}

export const gfMul = (a: number, b: number): number => (a === 0 || b === 0 ? 0 : EXP[LOG[a]! + LOG[b]!]!);
const gfDiv = (a: number, b: number): number => {
  if (b === 0) throw new RangeError('division by zero in GF(256)');
  return a === 0 ? 0 : EXP[LOG[a]! + 255 - LOG[b]!]!;
};

export interface Share {
  /** The x-coordinate, 1–255. */
  x: number;
  /** One byte per byte of the secret: the polynomials' values at x. */
  y: Uint8Array;
}

/** Splits `secret` into shares at x = 1…n, any `threshold` of which reconstruct it. */
export function split(secret: Uint8Array, n: number, threshold: number, random: (bytes: Uint8Array) => Uint8Array = (b) => crypto.getRandomValues(b)): Share[] {
  if (!Number.isInteger(n) || n < 1 || n > 255) throw new RangeError(`Shamir over GF(256) has 1–255 shares, not ${n}`);
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > n) throw new RangeError(`threshold ${threshold} must be 1–${n}`);
  // coefficients[k][j]: the k-th coefficient (k ≥ 1) of byte j's polynomial.
  const coefficients = Array.from({ length: threshold - 1 }, () => random(new Uint8Array(secret.length)));
  return Array.from({ length: n }, (_, i) => {
    const x = i + 1;
    const y = new Uint8Array(secret.length);
    for (let j = 0; j < secret.length; j++) {
      // Horner: ((c_{t−1} x + c_{t−2}) x + …) x + secret.
      let acc = 0;
      for (let k = threshold - 2; k >= 0; k--) acc = gfMul(acc, x) ^ coefficients[k]![j]!;
      y[j] = gfMul(acc, x) ^ secret[j]!;
    }
    return { x, y };
  });
}

/** The secret from at least `threshold` shares (Lagrange interpolation at 0); more shares are fine, duplicates are refused. */
export function combine(shares: readonly Share[]): Uint8Array {
  return interpolateAt(shares, 0);
}

/**
 * The polynomials through `shares` evaluated at `x`, byte by byte: at 0 the secret; at another holder's x,
 * what that holder's share must be, so a share that is not on the polynomial (a lying holder) shows.
 */
export function interpolateAt(shares: readonly Share[], at: number): Uint8Array {
  if (shares.length === 0) throw new RangeError('no shares to combine');
  const length = shares[0]!.y.length;
  const xs = shares.map((s) => s.x);
  if (new Set(xs).size !== xs.length) throw new RangeError('two shares have the same x-coordinate');
  if (shares.some((s) => s.y.length !== length || !Number.isInteger(s.x) || s.x < 1 || s.x > 255)) throw new RangeError('shares of different lengths, or an x-coordinate outside 1–255');
  // Lagrange basis at `at`: l_i = Π_{m≠i} (at − x_m) / (x_i − x_m), subtraction being ⊕ in GF(2⁸).
  const basis = xs.map((xi, i) => xs.reduce((acc, xm, m) => (m === i ? acc : gfMul(acc, gfDiv(at ^ xm, xi ^ xm))), 1));
  const secret = new Uint8Array(length);
  for (let j = 0; j < length; j++) {
    let acc = 0;
    for (let i = 0; i < shares.length; i++) acc ^= gfMul(shares[i]!.y[j]!, basis[i]!);
    secret[j] = acc;
  }
  return secret;
}
