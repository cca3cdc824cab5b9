/**
 * FedAdagrad, FedAdam and FedYogi (Reddi et al. 2021, Algorithm 2). They share the first moment and the
 * step; they differ only in how the second moment v follows Δ²:
 *
 *   m ← β1·m + (1 − β1)·Δ
 *   v ← v + Δ²                                  (FedAdagrad)
 *   v ← β2·v + (1 − β2)·Δ²                      (FedAdam)
 *   v ← v − (1 − β2)·Δ²·sign(v − Δ²)            (FedYogi)
 *   x ← x + η·m / (√v + τ)
 *
 * with m = 0 and v = τ² before the first round (the paper's v₋₁ ≥ τ²).
 */
import type { ServerOptimizer, ServerOptimizerConfig } from '../server-optimizer.ts';

type SecondMoment = (v: number, d2: number, beta2: number) => number;

function adaptive(secondMoment: SecondMoment): (config: ServerOptimizerConfig) => ServerOptimizer {
  return (config) => ({
    config,
    step(weights, delta, state) {
      const { lr, beta1, beta2, tau } = config;
      const m = state?.[0] ?? new Float32Array(weights.length);
      const v = state?.[1] ?? new Float32Array(weights.length).fill(tau * tau);
      const next = new Float32Array(weights.length);
      for (let i = 0; i < weights.length; i++) {
        const d = delta[i]!;
        m[i] = beta1 * m[i]! + (1 - beta1) * d;
        v[i] = secondMoment(v[i]!, d * d, beta2);
        next[i] = weights[i]! + (lr * m[i]!) / (Math.sqrt(v[i]!) + tau);
      }
      return { weights: next, state: [m, v] };
    },
  });
}

export const fedAdagrad = adaptive((v, d2) => v + d2);
export const fedAdam = adaptive((v, d2, beta2) => beta2 * v + (1 - beta2) * d2);
export const fedYogi = adaptive((v, d2, beta2) => v - (1 - beta2) * d2 * Math.sign(v - d2));
