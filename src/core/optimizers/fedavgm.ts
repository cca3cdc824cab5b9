import type { OptimizerState, ServerOptimizer, ServerOptimizerConfig } from '../server-optimizer.ts';

/** FedAvgM: server momentum m ← β·m + Δ, then x ← x + η·m (Hsu et al. 2019). */
export function fedAvgM(config: ServerOptimizerConfig): ServerOptimizer {
  return {
    config,
    step(weights, delta, state) {
      const m = state?.[0] ?? new Float32Array(weights.length);
      const next = new Float32Array(weights.length);
      for (let i = 0; i < weights.length; i++) {
        m[i] = config.beta1 * m[i]! + delta[i]!;
        next[i] = weights[i]! + config.lr * m[i]!;
      }
      return { weights: next, state: [m] satisfies OptimizerState };
    },
  };
}
