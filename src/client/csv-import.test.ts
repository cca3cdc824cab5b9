import { describe, expect, it } from 'vitest';
import type { TaskSummary } from '../core/protocol.ts';
import { refusalMessage } from '../core/test-helpers.ts';
import { examplesFromCsv } from './csv-import.ts';

const task = {
  id: 'fraud',
  name: 'Card fraud',
  labels: ['legitimate', 'fraud'],
  input: { kind: 'tabular', labelColumn: 'is_fraud', columns: [{ name: 'amount', type: 'numeric', mean: 0, std: 10 }, { name: 'channel', type: 'categorical', values: ['web', 'shop'] }] },
} as unknown as TaskSummary;


describe('CSV import', () => {
  it('encodes each row and reads labels by index or by name', () => {
    const examples = examplesFromCsv('amount,channel,is_fraud\n20,shop,0\n-5,web,fraud\n', task);
    expect(examples.map((e) => [e.label, [...e.features]])).toEqual([
      [0, [2, 0, 1]],
      [1, [-0.5, 1, 0]],
    ]);
    expect(examples[0]!.features).toBeInstanceOf(Float32Array);
  });

  it('refuses the whole file on a bad row, naming line and column', () => {
    expect(refusalMessage(() => examplesFromCsv('amount,channel,is_fraud\n1,web,0\nlots,web,0\n', task))).toBe('line 3, column amount: "lots" is not a number');
    expect(refusalMessage(() => examplesFromCsv('amount,channel,is_fraud\n1,web,maybe\n', task))).toMatch(/^line 2, column is_fraud: "maybe" is not one of 0 \(legitimate\), 1 \(fraud\)/);
    expect(refusalMessage(() => examplesFromCsv('amount,is_fraud\n1,0\n', task))).toBe('header: has no column "channel"');
  });
});
