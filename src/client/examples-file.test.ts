import { describe, expect, it } from 'vitest';
import { refusedField } from '../core/test-helpers.ts';
import { parseExamplesFile, serializeExamples } from './examples-file.ts';

const expected = { taskId: 'digits', featureCount: 4, labelCount: 10 };
const example = (label: number, pixels: number[]) => ({ taskId: 'digits', label, features: Uint8Array.from(pixels), source: 'drawn' as const, addedAt: 5 });


describe('examples file', () => {
  it('round-trips examples byte for byte', () => {
    const text = serializeExamples('digits', 4, [example(3, [0, 255, 7, 128]), example(9, [1, 2, 3, 4])]);
    const back = parseExamplesFile(text, expected);
    expect(back.map((e) => [e.label, [...e.features], e.source, e.addedAt])).toEqual([
      [3, [0, 255, 7, 128], 'imported', 5],
      [9, [1, 2, 3, 4], 'imported', 5],
    ]);
  });

  it('round-trips float features of tabular tasks', () => {
    const tabular = { taskId: 'fraud', label: 1, features: Float32Array.of(0.25, -3.5, 1e-3, 7), source: 'imported' as const, addedAt: 9 };
    const back = parseExamplesFile(serializeExamples('fraud', 4, [tabular]), { taskId: 'fraud', featureCount: 4, labelCount: 2 });
    expect(back[0]!.features).toBeInstanceOf(Float32Array);
    expect([...back[0]!.features]).toEqual([...tabular.features]);
  });

  it('refuses a file for another task, of another shape, or with a bad example, naming the field', () => {
    const good = JSON.parse(serializeExamples('digits', 4, [example(3, [0, 1, 2, 3])])) as Record<string, unknown>;
    const variant = (patch: Record<string, unknown>) => JSON.stringify({ ...good, ...patch });
    expect(refusedField(() => parseExamplesFile('not json', expected))).toBe('file');
    expect(refusedField(() => parseExamplesFile(variant({ format: 'other' }), expected))).toBe('format');
    expect(refusedField(() => parseExamplesFile(variant({ taskId: 'fraud' }), expected))).toBe('taskId');
    expect(refusedField(() => parseExamplesFile(variant({ featureCount: 784 }), expected))).toBe('featureCount');
    expect(refusedField(() => parseExamplesFile(variant({ examples: [{ label: 12, features: 'AAAAAA==' }] }), expected))).toBe('examples[0].label');
    expect(refusedField(() => parseExamplesFile(variant({ examples: [{ label: 1, features: 'AAA=' }] }), expected))).toBe('examples[0].features');
    expect(refusedField(() => parseExamplesFile(variant({ examples: [{ label: 1, features: '***' }] }), expected))).toBe('examples[0].features');
    expect(refusedField(() => parseExamplesFile(variant({ dtype: 'float64' }), expected))).toBe('dtype');
  });
});
