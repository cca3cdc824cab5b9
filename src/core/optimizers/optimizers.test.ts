import { describe, expect, it } from 'vitest';
import { packState, serverOptimizerConfig, unpackState } from '../server-optimizer.ts';
import { getServerOptimizer } from './index.ts';

// Two rounds on a 3-vector: x0 = [1, 2, 3], Δ1 = [0.5, −1, 0], Δ2 = [0.5, 1, 2]; η = 0.1, β1 = 0.9, β2 = 0.99, τ = 0.01.
const x0 = Float32Array.of(1, 2, 3);
const deltas = [Float32Array.of(0.5, -1, 0), Float32Array.of(0.5, 1, 2)];
const config = (name: string) => serverOptimizerConfig(name, { lr: 0.1, beta1: 0.9, beta2: 0.99, tau: 0.01 });

function twoRounds(name: string, over = config(name)) {
  const opt = getServerOptimizer(over);
  const first = opt.step(x0, deltas[0]!, null);
  const second = opt.step(first.weights, deltas[1]!, first.state);
  return { first: [...first.weights], second: [...second.weights], state: second.state.map((v) => [...v]) };
}

const close = (actual: number[], expected: number[]) => expected.forEach((e, i) => expect(actual[i]).toBeCloseTo(e, 5));

describe('server optimizers, against steps computed by hand', () => {
  it('FedAvgM (η = 1, β = 0.9): m1 = Δ1, x1 = x0 + m1; m2 = 0.9·m1 + Δ2 = [0.95, 0.1, 2], x2 = x1 + m2', () => {
    const r = twoRounds('fedavgm', serverOptimizerConfig('fedavgm', { lr: 1, beta1: 0.9 }));
    close(r.first, [1.5, 1, 3]);
    close(r.second, [2.45, 1.1, 5]);
    close(r.state[0]!, [0.95, 0.1, 2]);
  });

  it('FedAdam: coordinate 0 of round 1 is m = 0.1·0.5 = 0.05, v = 0.99·10⁻⁴ + 0.01·0.25 = 0.002599, x = 1 + 0.1·0.05/(√v + 0.01) = 1.0819936', () => {
    const r = twoRounds('fedadam');
    close(r.first, [1.0819936, 1.9094972, 3]);
    close(r.second, [1.1989525, 1.9161016, 3.0951272]);
    close(r.state[0]!, [0.095, 0.01, 0.2]); // m2 = 0.9·m1 + 0.1·Δ2
    close(r.state[1]!, [0.00507301, 0.01999801, 0.04009801]);
  });

  it('FedYogi: v moves towards Δ² by (1 − β2)·Δ² with the sign of Δ² − v: v2[0] = 10⁻⁴ + 0.0025 + 0.0025 = 0.0051', () => {
    const r = twoRounds('fedyogi');
    close(r.first, [1.0819804, 1.9095012, 3]);
    close(r.second, [1.1986675, 1.91609, 3.0951249]);
    close(r.state[1]!, [0.0051, 0.0201, 0.0401]);
  });

  it('FedAdagrad: v sums Δ²: v2 = τ² + Δ1² + Δ2² = [0.5001, 2.0001, 4.0001]', () => {
    const r = twoRounds('fedadagrad');
    close(r.first, [1.009802, 1.9900995, 3]);
    close(r.second, [1.0230484, 1.9908016, 3.0099501]);
    close(r.state[1]!, [0.5001, 2.0001, 4.0001]);
  });

  it('packs a state into bytes and back, and refuses a blob of the wrong size', () => {
    const state = [Float32Array.of(1, 2, 3), Float32Array.of(4, 5, 6)];
    expect(unpackState(packState(state), 3).map((v) => [...v])).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(() => unpackState(packState(state), 4)).toThrow(RangeError);
    expect(() => getServerOptimizer(serverOptimizerConfig('fedmagic'))).toThrow(/known: fedavgm/);
  });
});
