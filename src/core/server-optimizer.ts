/**
 * Server optimizers (Reddi et al. 2021, "Adaptive Federated Optimization", Algorithm 2; FedAvgM after Hsu et
 * al. 2019). A strategy (FedAvg, median, trimmed mean, Krum, …) turns the round's updates into one aggregate
 * delta Δ; a server optimizer treats Δ as a pseudo-gradient and steps the global model with it, keeping
 * state across rounds (momentum, second moments). Without one, the model simply moves by Δ.
 *
 * The state belongs with the model version it produced: the coordinator writes both in one transaction, so
 * a restart continues from the same moments (see Federation.aggregate and store.closeRound).
 */
export interface ServerOptimizerConfig {
  name: string;
  /** Server learning rate η. */
  lr: number;
  /** Momentum (first moment) decay β1; FedAvgM's momentum β. */
  beta1: number;
  /** Second moment decay β2 (FedAdam, FedYogi). */
  beta2: number;
  /** Adaptivity τ: the floor under √v, and v's initial value is τ². */
  tau: number;
}

/** The vectors an optimizer carries from round to round, each as long as the model. */
export type OptimizerState = Float32Array[];

export interface ServerOptimizer {
  readonly config: ServerOptimizerConfig;
  /** The next global weights from `weights` and the aggregate `delta`, and the state to keep; `state` is null the first time. */
  step(weights: Float32Array, delta: Float32Array, state: OptimizerState | null): { weights: Float32Array; state: OptimizerState };
}

/** Defaults where a task file names only the optimizer: Reddi et al.'s β1, β2 and τ; η per method. */
export const DEFAULT_SERVER_LR: Readonly<Record<string, number>> = { fedavgm: 1, fedadam: 0.01, fedyogi: 0.01, fedadagrad: 0.1 };

export function serverOptimizerConfig(name: string, over: Partial<Omit<ServerOptimizerConfig, 'name'>> = {}): ServerOptimizerConfig {
  return { name, lr: over.lr ?? DEFAULT_SERVER_LR[name] ?? 1, beta1: over.beta1 ?? 0.9, beta2: over.beta2 ?? 0.99, tau: over.tau ?? 1e-3 };
}

/** Packs a state into one byte blob (for the store) and back: vectors of equal length, float32. */
export function packState(state: OptimizerState): Uint8Array {
  const out = new Float32Array(state.reduce((n, v) => n + v.length, 0));
  let offset = 0;
  for (const v of state) {
    out.set(v, offset);
    offset += v.length;
  }
  return new Uint8Array(out.buffer);
}

export function unpackState(bytes: Uint8Array, length: number): OptimizerState {
  const all = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(all.buffer).set(bytes);
  if (length === 0 || all.length % length !== 0) throw new RangeError(`optimizer state of ${all.length} values does not divide into vectors of ${length}`);
  return Array.from({ length: all.length / length }, (_, k) => all.slice(k * length, (k + 1) * length));
}
