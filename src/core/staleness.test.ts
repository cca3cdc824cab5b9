import { describe, expect, it } from 'vitest';
import { ValidationError } from './validate.ts';
import { DEFAULT_STALENESS, describeStaleness, readStaleness, stalenessWeight } from './staleness.ts';

describe('staleness functions (FedBuff / FedAsync)', () => {
  it('weights by 1/√(1+τ) by default: 1, 1/√2, 1/2 at τ = 0, 1, 3', () => {
    expect(stalenessWeight(DEFAULT_STALENESS, 0)).toBe(1);
    expect(stalenessWeight(DEFAULT_STALENESS, 1)).toBeCloseTo(Math.SQRT1_2, 15);
    expect(stalenessWeight(DEFAULT_STALENESS, 3)).toBe(0.5);
  });

  it('computes the polynomial and hinge forms of Xie et al. by hand', () => {
    expect(stalenessWeight({ kind: 'polynomial', exponent: 1 }, 4)).toBe(0.2);
    expect(stalenessWeight({ kind: 'constant' }, 50)).toBe(1);
    // hinge a = 10, b = 4: flat to τ = 4, then 1/(10(τ − 4) + 1)
    const hinge = { kind: 'hinge', a: 10, b: 4 } as const;
    expect(stalenessWeight(hinge, 4)).toBe(1);
    expect(stalenessWeight(hinge, 6)).toBe(1 / 21);
  });

  it('refuses a staleness that is not a whole number of versions', () => {
    expect(() => stalenessWeight(DEFAULT_STALENESS, -1)).toThrow(RangeError);
    expect(() => stalenessWeight(DEFAULT_STALENESS, 0.5)).toThrow(RangeError);
  });

  it('reads the task file forms and names the field that is wrong', () => {
    expect(readStaleness(undefined, 'f')).toEqual(DEFAULT_STALENESS);
    expect(readStaleness('constant', 'f')).toEqual({ kind: 'constant' });
    expect(readStaleness({ kind: 'polynomial', exponent: 1 }, 'f')).toEqual({ kind: 'polynomial', exponent: 1 });
    expect(readStaleness({ kind: 'hinge', a: 10, b: 4 }, 'f')).toEqual({ kind: 'hinge', a: 10, b: 4 });
    expect(() => readStaleness('linear', 'rounds.staleness')).toThrow(ValidationError);
    try {
      readStaleness({ kind: 'hinge', a: 10 }, 'rounds.staleness');
    } catch (e) {
      expect((e as ValidationError).field).toBe('rounds.staleness.b');
    }
    expect(describeStaleness(DEFAULT_STALENESS)).toBe('1/sqrt(1+t)');
    expect(describeStaleness({ kind: 'polynomial', exponent: 1 })).toBe('(1+t)^-1');
  });
});
