/**
 * Adaptive clipping (Andrew, Thakkar, McMahan and Ramaswamy 2021, "Differentially Private Learning with
 * Adaptive Clipping"): the clip norm C follows the γ-quantile of the clients' update norms instead of being
 * guessed once. Each client reports b = 1 when its update was within C; the coordinator sums the centred bits
 * (b − ½, so one person moves the sum by at most ½), adds N(0, σ_b²), estimates the fraction within C as
 * b̄ = noised sum / m + ½ (m the clients a round expects), and steps geometrically:
 * C ← C · exp(−η · (b̄ − γ)).
 *
 * The bit count is a second Gaussian query on the same people, so the update's noise is reduced to keep the
 * pair at the task's noise multiplier z: with sensitivity ½ the count's multiplier is 2σ_b, and two Gaussian
 * mechanisms compose like one whose multiplier satisfies z⁻² = z_Δ⁻² + (2σ_b)⁻² (the paper's Theorem 1), so
 * z_Δ = (z⁻² − (2σ_b)⁻²)^(−½). The accountant keeps using z. TensorFlow Privacy's
 * QuantileAdaptiveClipSumQuery does the same; the defaults below are the paper's (γ ½, η 0.2, σ_b = m/20).
 */
import { gaussianNoise } from './noise.ts';

export interface AdaptiveClipping {
  /** γ: the fraction of updates the clip norm should leave unclipped. */
  targetQuantile: number;
  /** η_C: the geometric step. */
  learningRate: number;
  /** σ_b: the standard deviation of the noise on the count of updates within the clip norm. */
  countNoise: number;
}

export const adaptiveClippingDefaults = (expectedClients: number): AdaptiveClipping => ({ targetQuantile: 0.5, learningRate: 0.2, countNoise: expectedClients / 20 });

/** z_Δ, the noise multiplier left for the update once the count has taken its share of z; throws when none is left. */
export function updateNoiseMultiplier(noiseMultiplier: number, countNoise: number): number {
  if (noiseMultiplier === 0) return 0;
  const left = noiseMultiplier ** -2 - (2 * countNoise) ** -2;
  if (!(left > 0)) throw new RangeError(`the count's noise σ_b = ${countNoise} leaves no noise for the update: it needs 2σ_b > z = ${noiseMultiplier}`);
  return left ** -0.5;
}

/**
 * The next round's clip norm from this round's bits: `withinClip` counts the updates reported within C,
 * `received` the updates in all.
 */
export function nextClipNorm(clipNorm: number, withinClip: number, received: number, expectedClients: number, a: AdaptiveClipping, uniforms?: { draw(): number }): number {
  const centred = withinClip - received / 2;
  const noised = centred + (a.countNoise > 0 ? gaussianNoise(1, a.countNoise, uniforms)[0]! : 0);
  const fraction = Math.min(1, Math.max(0, noised / expectedClients + 0.5));
  return clipNorm * Math.exp(-a.learningRate * (fraction - a.targetQuantile));
}
