import { describe, expect, it } from 'vitest';
import { f1Score, rocAuc } from './metrics.ts';

describe('ROC AUC', () => {
  it('is 1 for a perfect ranking, 0 for a reversed one, 0.5 for all ties', () => {
    expect(rocAuc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])).toBe(1);
    expect(rocAuc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1])).toBe(0);
    expect(rocAuc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1])).toBe(0.5);
  });

  it('counts pairs: one misordered pair of four gives 0.75', () => {
    // positives 0.6 and 0.9; negatives 0.1 and 0.7: pairs (0.6>0.1 ✓, 0.6>0.7 ✗, 0.9>0.1 ✓, 0.9>0.7 ✓)
    expect(rocAuc([0.1, 0.6, 0.7, 0.9], [0, 1, 0, 1])).toBe(0.75);
  });

  it('is NaN when a class is missing', () => {
    expect(rocAuc([0.1, 0.2], [0, 0])).toBeNaN();
  });
});

describe('F1', () => {
  it('is the harmonic mean of precision and recall of class 1', () => {
    // tp 1, fp 1, fn 1 → precision ½, recall ½ → F1 ½
    expect(f1Score([1, 1, 0, 0], [1, 0, 1, 0])).toBe(0.5);
    expect(f1Score([0, 0], [1, 0])).toBe(0);
  });
});
