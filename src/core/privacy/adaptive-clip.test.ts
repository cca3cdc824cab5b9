import { describe, expect, it } from 'vitest';
import { adaptiveClippingDefaults, nextClipNorm, updateNoiseMultiplier } from './adaptive-clip.ts';

/** Runs rounds of the clip update on fixed update norms, as TensorFlow Privacy's tests do, without noise. */
function clips(start: number, norms: number[], targetQuantile: number, learningRate: number, rounds: number): number[] {
  const out: number[] = [];
  let clip = start;
  for (let r = 0; r < rounds; r++) {
    const within = norms.filter((n) => n <= clip).length;
    clip = nextClipNorm(clip, within, norms.length, norms.length, { targetQuantile, learningRate, countNoise: 0 });
    out.push(clip);
  }
  return out;
}

describe('adaptive clipping (Andrew et al. 2021)', () => {
  // TensorFlow Privacy, quantile_adaptive_clip_sum_query_test.py: test_adaptation_target_zero_geometric
  // (records 5 and −2.5, clip 16, γ = 0, η = ln 2) and test_adaptation_target_one_geometric (records −1.5
  // and 3, clip 0.5, γ = 1, η = ln 2): the clip norms they expect, round by round.
  it('steps geometrically as TensorFlow Privacy\'s reference cases expect', () => {
    const zero = clips(16, [5, 2.5], 0, Math.log(2), 5);
    [8, 4, 4 / Math.SQRT2, 2, 2].forEach((c, i) => expect(zero[i]).toBeCloseTo(c, 9));
    const one = clips(0.5, [1.5, 3], 1, Math.log(2), 5);
    [1, 2, 2 * Math.SQRT2, 4, 4].forEach((c, i) => expect(one[i]).toBeCloseTo(c, 9));
  });

  it('settles around the target quantile of the norms (TensorFlow Privacy\'s linspace case: the median of 0…10 is 5)', () => {
    const norms = Array.from({ length: 21 }, (_, i) => i / 2);
    for (const start of [1, 10]) expect(clips(start, norms, 0.5, 1, 50).slice(41).every((c) => Math.abs(c - 5) < 0.5)).toBe(true);
  });

  it('leaves the update the noise the count does not take: z⁻² = z_Δ⁻² + (2σ_b)⁻²', () => {
    expect(updateNoiseMultiplier(1, 1)).toBeCloseTo(1 / Math.sqrt(0.75), 12); // 1.1547
    // The paper's defaults for 100 clients a round (σ_b = 5) barely change z = 1: 1.0050.
    expect(updateNoiseMultiplier(1, adaptiveClippingDefaults(100).countNoise)).toBeCloseTo(1 / Math.sqrt(1 - 1 / 100), 12);
    expect(updateNoiseMultiplier(0, 0)).toBe(0);
    expect(() => updateNoiseMultiplier(1, 0.5)).toThrow(/2σ_b > z/);
  });

  it('noises the count with σ_b from the CSPRNG: the clip it moves to varies as N(0, σ_b²) says', () => {
    // Half within, γ = ½, η = 1, m = 100, σ_b = 10: log C' = −(noise / 100) · 1, so sd(log C') = 0.1.
    const logs = Array.from({ length: 4000 }, () => Math.log(nextClipNorm(1, 50, 100, 100, { targetQuantile: 0.5, learningRate: 1, countNoise: 10 })));
    const mean = logs.reduce((a, b) => a + b, 0) / logs.length;
    const sd = Math.sqrt(logs.reduce((a, b) => a + (b - mean) ** 2, 0) / (logs.length - 1));
    expect(Math.abs(mean)).toBeLessThan(0.01); // 0 ± 5 standard errors (0.0016 each)
    expect(sd).toBeGreaterThan(0.1 * 0.95);
    expect(sd).toBeLessThan(0.1 * 1.05);
  });
});
