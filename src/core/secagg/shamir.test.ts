import { describe, expect, it } from 'vitest';
import { combine, gfMul, split } from './shamir.ts';

const secret = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff);

describe('Shamir over GF(256)', () => {
  it('multiplies as AES does (FIPS-197 §4.2: {57} · {83} = {c1}, {57} · {13} = {fe})', () => {
    expect(gfMul(0x57, 0x83)).toBe(0xc1);
    expect(gfMul(0x57, 0x13)).toBe(0xfe);
    for (let a = 1; a < 256; a++) expect(gfMul(a, 1)).toBe(a);
  });

  it('gives the secret back from any t of n shares, and not from t − 1', () => {
    const n = 7, t = 4;
    const shares = split(secret, n, t);
    // Every 4-subset of 7 (35 of them).
    for (let mask = 0; mask < 1 << n; mask++) {
      const chosen = shares.filter((_, i) => mask & (1 << i));
      if (chosen.length === t || chosen.length === n) expect(combine(chosen)).toEqual(secret);
      if (chosen.length === t - 1) expect(combine(chosen)).not.toEqual(secret);
    }
  });

  it('works at the edges: t = 1 (every share is the secret), t = n, and 255 holders', () => {
    expect(split(secret, 3, 1).map((s) => s.y)).toEqual([secret, secret, secret]);
    const all = split(secret, 5, 5);
    expect(combine(all)).toEqual(secret);
    const many = split(secret, 255, 100);
    expect(combine(many.slice(155))).toEqual(secret);
    expect(() => split(secret, 256, 2)).toThrow(/1–255/);
    expect(() => split(secret, 5, 6)).toThrow(/threshold/);
    expect(() => combine([all[0]!, all[0]!])).toThrow(/same x/);
  });

  it('t − 1 shares are uniformly distributed whatever the secret (χ² over 2 shares of a 1-byte secret, t = 3)', () => {
    // For a fixed secret byte, the pair (y1, y2) of two shares must be uniform over 256²: test each share's
    // byte and their xor (which would leak if the polynomial were not random) against the uniform.
    for (const s of [0x00, 0xff]) {
      const draws = 256 * 200;
      const counts = [new Array<number>(256).fill(0), new Array<number>(256).fill(0), new Array<number>(256).fill(0)];
      for (let i = 0; i < draws; i++) {
        const [a, b] = split(Uint8Array.of(s), 3, 3);
        counts[0]![a!.y[0]!]! += 1;
        counts[1]![b!.y[0]!]! += 1;
        counts[2]![a!.y[0]! ^ b!.y[0]!]! += 1;
      }
      for (const c of counts) {
        const chi2 = c.reduce((acc, k) => acc + (k - 200) ** 2 / 200, 0);
        // 255 degrees of freedom: mean 255, sd 22.6; 400 is 6.4 sd above.
        expect(chi2).toBeLessThan(400);
      }
    }
  });
});
