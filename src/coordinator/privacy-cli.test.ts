import { describe, expect, it } from 'vitest';
import { epsilonOf } from '../core/privacy/rdp.ts';
import { privacyCommand, UsageError } from './privacy-cli.ts';

describe('covey privacy epsilon', () => {
  it('prints ε for a noise multiplier, and the noise multiplier for an ε, each the inverse of the other', () => {
    const forward = privacyCommand(['epsilon', '--q', '0.01', '--noise', '1.1', '--rounds', '1000', '--delta', '1e-5']);
    const epsilon = epsilonOf({ q: 0.01, noise: 1.1, rounds: 1000, delta: 1e-5 }).epsilon;
    expect(forward).toContain(`ε = ${epsilon.toPrecision(4)} at δ = 0.00001 after 1000 rounds`);
    const inverse = privacyCommand(['epsilon', '--q', '0.01', '--epsilon', String(epsilon), '--rounds', '1000', '--delta', '1e-5']);
    expect(Number(/noise multiplier ([\d.]+)/.exec(inverse)![1])).toBeCloseTo(1.1, 2);
  });

  it('refuses what it cannot answer, saying how to ask', () => {
    expect(() => privacyCommand(['epsilon', '--q', '2', '--noise', '1', '--rounds', '5'])).toThrow(UsageError);
    expect(() => privacyCommand(['epsilon', '--q', '0.1', '--rounds', '5'])).toThrow(/--noise .* or --epsilon/);
    expect(() => privacyCommand(['delta'])).toThrow(/usage/);
  });
});
