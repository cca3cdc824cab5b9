import { describe, expect, it } from 'vitest';
import { ValidationError } from '../core/validate.ts';
import { parseExamplesFile, serializeExamples } from './examples-file.ts';

const expected = { taskId: 'digits', featureCount: 4, labelCount: 10 };
const example = (label: number, pixels: number[]) => ({ taskId: 'digits', label, pixels: Uint8Array.from(pixels), source: 'drawn' as const, addedAt: 5 });

function fieldOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof ValidationError) return e.field;
    throw e;
  }
  throw new Error('expected a ValidationError');
}

describe('examples file', () => {
  it('round-trips examples byte for byte', () => {
    const text = serializeExamples('digits', 4, [example(3, [0, 255, 7, 128]), example(9, [1, 2, 3, 4])]);
    const back = parseExamplesFile(text, expected);
    expect(back.map((e) => [e.label, [...e.pixels], e.source, e.addedAt])).toEqual([
      [3, [0, 255, 7, 128], 'imported', 5],
      [9, [1, 2, 3, 4], 'imported', 5],
    ]);
  });

  it('refuses a file for another task, of another shape, or with a bad example, naming the field', () => {
    const good = JSON.parse(serializeExamples('digits', 4, [example(3, [0, 1, 2, 3])])) as Record<string, unknown>;
    const variant = (patch: Record<string, unknown>) => JSON.stringify({ ...good, ...patch });
    expect(fieldOf(() => parseExamplesFile('not json', expected))).toBe('file');
    expect(fieldOf(() => parseExamplesFile(variant({ format: 'other' }), expected))).toBe('format');
    expect(fieldOf(() => parseExamplesFile(variant({ taskId: 'fraud' }), expected))).toBe('taskId');
    expect(fieldOf(() => parseExamplesFile(variant({ featureCount: 784 }), expected))).toBe('featureCount');
    expect(fieldOf(() => parseExamplesFile(variant({ examples: [{ label: 12, pixels: 'AAAAAA==' }] }), expected))).toBe('examples[0].label');
    expect(fieldOf(() => parseExamplesFile(variant({ examples: [{ label: 1, pixels: 'AAA=' }] }), expected))).toBe('examples[0].pixels');
    expect(fieldOf(() => parseExamplesFile(variant({ examples: [{ label: 1, pixels: '***' }] }), expected))).toBe('examples[0].pixels');
  });
});
