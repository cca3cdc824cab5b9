import { describe, expect, it } from 'vitest';
import { epsilonFromRdp, epsilonOf, logErfc, noiseForEpsilon, rdpOfRounds, rdpOfSampledGaussian } from './rdp.ts';

const close = (actual: number, expected: number, rtol = 1e-3) => expect(Math.abs(actual - expected)).toBeLessThanOrEqual(rtol * Math.abs(expected));

describe('RDP of the sampled Gaussian', () => {
  it('is α/(2σ²) without sampling (the closed form)', () => {
    // dp_accounting rdp_privacy_accountant_test.py, test_compute_rdp_gaussian: α = 3.14159, σ = 2.71828.
    expect(rdpOfSampledGaussian(1, 2.71828, 3.14159)).toBeCloseTo(3.14159 / (2 * 2.71828 ** 2), 12);
  });

  it('matches dp_accounting for q = 0.01, σ = 2.5, 50 rounds, integer and fractional orders', () => {
    // dp_accounting rdp_privacy_accountant_test.py, test_compute_rdp_poisson_sampled_gaussian (rtol 1e-4 there).
    const orders = [1.5, 2.5, 5, 50, 100, Infinity];
    const expected = [6.70579741e-4, 1.0854871e-3, 2.18075656e-3, 2.38460375e-2, 1.67416308e2, Infinity];
    rdpOfRounds(0.01, 2.5, 50, orders).forEach((r, k) => (Number.isFinite(expected[k]!) ? close(r, expected[k]!, 1e-4) : expect(r).toBe(Infinity)));
  });

  it('is 0 without sampling and ∞ without noise', () => {
    expect(rdpOfSampledGaussian(0, 1, 2)).toBe(0);
    expect(rdpOfSampledGaussian(0.1, 0, 2)).toBe(Infinity);
  });
});

describe('RDP to (ε, δ)', () => {
  it('matches dp_accounting for pure DP (RDP 1.1 at every order 2–32, δ = 1e-5)', () => {
    // dp_accounting test_compute_epsilon_delta_pure_dp: ε = 1.32783806176 at order 32; the conversion
    // ε = RDP + log1p(−1/α) − log(δα)/(α − 1) (Canonne, Kamath, Steinke 2020).
    const orders = Array.from({ length: 31 }, (_, i) => i + 2);
    const { epsilon, order } = epsilonFromRdp(orders, orders.map(() => 1.1), 1e-5);
    close(epsilon, 1.32783806176, 1e-9);
    expect(order).toBe(32);
  });

  it('gives exactly (1, 1e-6) for the Gaussian of σ = 4.530877117 (dp_accounting test_compute_epsilon_delta_gaussian)', () => {
    const orders = Array.from({ length: 99000 }, (_, i) => 0.001 * (i + 1000));
    close(epsilonOf({ q: 1, noise: 4.530877117, rounds: 1, delta: 1e-6, orders: orders.filter((a) => a > 1) }).epsilon, 1, 1e-5);
  });

  it('grows with rounds and sampling, shrinks with noise', () => {
    const base = { q: 0.01, noise: 1.1, rounds: 1000, delta: 1e-5 };
    const e = epsilonOf(base).epsilon;
    expect(epsilonOf({ ...base, rounds: 2000 }).epsilon).toBeGreaterThan(e);
    expect(epsilonOf({ ...base, q: 0.02 }).epsilon).toBeGreaterThan(e);
    expect(epsilonOf({ ...base, noise: 2 }).epsilon).toBeLessThan(e);
  });

  it('finds the noise a target ε needs, and that noise gives the target back', () => {
    const noise = noiseForEpsilon({ q: 0.01, rounds: 1000, epsilon: 2, delta: 1e-5 });
    close(epsilonOf({ q: 0.01, noise, rounds: 1000, delta: 1e-5 }).epsilon, 2, 2e-3);
  });
});

describe('log erfc', () => {
  it('agrees with known values, and stays finite far in the tail', () => {
    close(Math.exp(logErfc(0)), 1, 1e-6);
    close(Math.exp(logErfc(1)), 0.157299207050285, 1e-6);
    close(Math.exp(logErfc(-1)), 1.842700792949715, 1e-6);
    // erfc(20) ≈ 5.3959e-176 (Python's math.erfc); erfc(40) is far below float64, its log is not.
    close(logErfc(20), -403.56934333410425, 1e-6);
    close(logErfc(40), -1600 - Math.log(40 * Math.sqrt(Math.PI)) - 0.5 / 1600, 1e-6);
  });
});
