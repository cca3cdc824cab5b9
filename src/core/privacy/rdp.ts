/**
 * The privacy accountant: Rényi differential privacy (RDP) of the Poisson-subsampled Gaussian mechanism
 * (Mironov, Talwar, Zhang 2019, "Rényi Differential Privacy of the Sampled Gaussian Mechanism"), composed
 * over rounds by adding RDP order by order, and converted to (ε, δ) with the conversion of Canonne, Kamath
 * and Steinke 2020 / Balle et al. 2020 (Proposition 12 of the former):
 *   ε = RDP(α) + log1p(−1/α) − log(δ·α)/(α − 1),  minimised over the orders α.
 * At integer orders the same numbers as Google's dp_accounting (RdpAccountant); at fractional orders an
 * upper bound (see logAFractional), equal to the values in dp_accounting's current tests, which ours
 * reproduce.
 *
 * A round is one mechanism: each client is in it with probability q, the sum of clipped updates (sensitivity
 * S, add/remove-one neighbours) gets Gaussian noise of standard deviation z·S; `noise` below is z.
 */

/** Orders α the accountant minimises over: fine near 1, where small ε live, coarse far out. */
export const DEFAULT_ORDERS: readonly number[] = [
  ...Array.from({ length: 99 }, (_, i) => 1 + (i + 1) / 10),
  ...Array.from({ length: 52 }, (_, i) => 12 + i),
  128, 256, 512, 1024,
];

/** RDP at order α of one Poisson-subsampled Gaussian mechanism with sampling rate q and noise multiplier z. */
export function rdpOfSampledGaussian(q: number, noise: number, alpha: number): number {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`sampling rate ${q} is not in [0, 1]`);
  if (!(noise >= 0)) throw new RangeError(`noise multiplier ${noise} is negative`);
  if (!(alpha > 1)) throw new RangeError(`order ${alpha} must be above 1`);
  if (q === 0) return 0;
  if (noise === 0) return Infinity;
  if (q === 1) return alpha / (2 * noise * noise);
  if (!Number.isFinite(alpha)) return Infinity;
  const rdp = (Number.isInteger(alpha) ? logAInteger(q, noise, alpha) : logAFractional(q, noise, alpha)) / (alpha - 1);
  // Rounding can leave a hair below 0 at tiny q; a NaN would be an error of ours: never report it as privacy.
  if (Number.isNaN(rdp)) throw new RangeError(`RDP at order ${alpha} (q ${q}, noise ${noise}) is not a number`);
  return Math.max(0, rdp);
}

/** RDP at each order after `rounds` rounds (RDP composes by addition). */
export function rdpOfRounds(q: number, noise: number, rounds: number, orders: readonly number[] = DEFAULT_ORDERS): number[] {
  return orders.map((alpha) => rounds * rdpOfSampledGaussian(q, noise, alpha));
}

/** The smallest ε, over the orders, for which the RDP curve gives (ε, δ)-DP; and the order that gives it. */
export function epsilonFromRdp(orders: readonly number[], rdp: readonly number[], delta: number): { epsilon: number; order: number } {
  if (!(delta >= 0 && delta <= 1)) throw new RangeError(`δ ${delta} is not in [0, 1]`);
  if (orders.length !== rdp.length || orders.length === 0) throw new RangeError('orders and RDP values must pair up');
  if (delta === 0) return { epsilon: rdp.every((r) => r === 0) ? 0 : Infinity, order: orders[0]! };
  let best = { epsilon: Infinity, order: orders[0]! };
  orders.forEach((alpha, k) => {
    const r = rdp[k]!;
    if (!(r >= 0)) throw new RangeError(`RDP ${r} at order ${alpha} is negative`);
    // δ ≥ √(1 − e^(−RDP)) already: the KL bound gives ε = 0. Below α ≈ 1 the conversion is unstable: skip.
    const epsilon = delta * delta + Math.expm1(-r) > 0 ? 0 : alpha > 1.01 ? r + Math.log1p(-1 / alpha) - Math.log(delta * alpha) / (alpha - 1) : Infinity;
    if (epsilon < best.epsilon) best = { epsilon, order: alpha };
  });
  return { epsilon: Math.max(0, best.epsilon), order: best.order };
}

/** ε after `rounds` rounds at sampling rate q and noise multiplier z, at δ. */
export function epsilonOf(p: { q: number; noise: number; rounds: number; delta: number; orders?: readonly number[] }): { epsilon: number; order: number } {
  const orders = p.orders ?? DEFAULT_ORDERS;
  return epsilonFromRdp(orders, rdpOfRounds(p.q, p.noise, p.rounds, orders), p.delta);
}

/** The smallest noise multiplier (to 1e-4 relative) for which `rounds` rounds at rate q stay within (ε, δ). */
export function noiseForEpsilon(p: { q: number; rounds: number; epsilon: number; delta: number; orders?: readonly number[] }): number {
  const within = (noise: number) => epsilonOf({ ...p, noise }).epsilon <= p.epsilon;
  let low = 0;
  let high = 1;
  while (!within(high)) {
    high *= 2;
    if (high > 1e6) throw new RangeError(`no noise multiplier up to 1e6 keeps ε ≤ ${p.epsilon}`);
  }
  while ((high - low) / high > 1e-4) {
    const mid = (low + high) / 2;
    if (within(mid)) high = mid;
    else low = mid;
  }
  return high;
}

/** log A_α for integer α: the binomial expansion (Mironov et al. 2019, section 3.3). */
function logAInteger(q: number, noise: number, alpha: number): number {
  let logA = -Infinity;
  let logBinomial = 0;
  for (let i = 0; i <= alpha; i++) {
    const term = logBinomial + i * Math.log(q) + (alpha - i) * Math.log1p(-q) + (i * i - i) / (2 * noise * noise);
    logA = logAdd(logA, term);
    logBinomial += Math.log(alpha - i) - Math.log(i + 1);
  }
  return logA;
}

/**
 * log A_α for fractional α: the two integrals of Mironov et al. 2019 (section 3.3) over (−∞, z₀] and
 * [z₀, ∞), each a series in |C(α, i)|. Summing the terms' magnitudes (as the dp_accounting version whose
 * test values we reproduce does; older versions alternate signs) gives an upper bound on A_α: never a
 * smaller ε than the truth, larger at small fractional orders (3 % at α 1.5 for q 0.01, z 2.5). Stops once
 * both terms fall and are 30 nats below the total; an order that does not converge in 1,000 terms (small
 * orders with large q or small z) counts as ∞, which only removes that order from the minimum.
 */
function logAFractional(q: number, noise: number, alpha: number): number {
  let logA0 = -Infinity;
  let logA1 = -Infinity;
  const z0 = noise * noise * Math.log(1 / q - 1) + 0.5;
  let lastS0 = -Infinity;
  let lastS1 = -Infinity;
  let logAbsBinomial = 0; // log |C(α, i)|
  for (let i = 0; i < 1000; i++) {
    const j = alpha - i;
    const logS0 = logAbsBinomial + i * Math.log(q) + j * Math.log1p(-q) + (i * i - i) / (2 * noise * noise) + Math.log(0.5) + logErfc((i - z0) / (Math.SQRT2 * noise));
    const logS1 = logAbsBinomial + j * Math.log(q) + i * Math.log1p(-q) + (j * j - j) / (2 * noise * noise) + Math.log(0.5) + logErfc((z0 - j) / (Math.SQRT2 * noise));
    logA0 = logAdd(logA0, logS0);
    logA1 = logAdd(logA1, logS1);
    const total = logAdd(logA0, logA1);
    if (logS0 < lastS0 && logS1 < lastS1 && Math.max(logS0, logS1) < total - 30) return total;
    lastS0 = logS0;
    lastS1 = logS1;
    logAbsBinomial += Math.log(Math.abs(alpha - i)) - Math.log(i + 1);
  }
  return Infinity;
}

/** log(e^a + e^b) without overflow. */
function logAdd(a: number, b: number): number {
  const [hi, lo] = a > b ? [a, b] : [b, a];
  if (lo === -Infinity) return hi;
  return hi + Math.log1p(Math.exp(lo - hi));
}

/**
 * log erfc(x), without underflow for large x: the Chebyshev fit of Numerical Recipes' erfcc (fractional
 * error below 1.2e-7 everywhere), kept in log form.
 */
export function logErfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const inner = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  const logAtZ = Math.log(t) + inner;
  return x >= 0 ? logAtZ : Math.log(2 - Math.exp(logAtZ));
}
