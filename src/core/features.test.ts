import { describe, expect, it } from 'vitest';
import { parseCsv } from './csv.ts';
import { encodeRow, featureCount, inputShape, parseInputSpec } from './features.ts';
import { refusedField } from './test-helpers.ts';

const tabular = parseInputSpec({
  kind: 'tabular',
  labelColumn: 'is_fraud',
  columns: [
    { name: 'amount', type: 'numeric', mean: 1, std: 2, log: true },
    { name: 'hour', type: 'numeric', mean: 12, std: 6 },
    { name: 'channel', type: 'categorical', values: ['online', 'store'] },
  ],
});


describe('input specs', () => {
  it('encodes a tabular row: log, standardise, one-hot', () => {
    if (tabular.kind !== 'tabular') throw new Error('expected tabular');
    expect(featureCount(tabular)).toBe(4);
    expect(inputShape(tabular)).toEqual([4]);
    const v = encodeRow(tabular, { amount: String(Math.E - 1), hour: '18', channel: 'store', is_fraud: '0' });
    expect([...v]).toEqual([0, 1, 0, 1]);
    expect([...encodeRow(tabular, { amount: '0', hour: '12', channel: 'phone' })]).toEqual([-0.5, 0, 0, 0]);
  });

  it('names the column of a bad value', () => {
    if (tabular.kind !== 'tabular') throw new Error('expected tabular');
    expect(refusedField(() => encodeRow(tabular, { amount: 'ten', hour: '1', channel: 'online' }))).toBe('amount');
    expect(refusedField(() => encodeRow(tabular, { amount: '1', channel: 'online' }))).toBe('hour');
    expect(refusedField(() => encodeRow(tabular, { amount: '-1', hour: '1', channel: 'online' }))).toBe('amount');
  });

  it('refuses malformed specs, naming the field', () => {
    expect(refusedField(() => parseInputSpec({ kind: 'audio' }))).toBe('input.kind');
    expect(refusedField(() => parseInputSpec({ kind: 'image', shape: [28, 0], scale: 1 }))).toBe('input.shape');
    expect(refusedField(() => parseInputSpec({ kind: 'tabular', labelColumn: 'y', columns: [{ name: 'a', type: 'numeric', mean: 0, std: 0 }] }))).toBe('input.columns[0].std');
    expect(refusedField(() => parseInputSpec({ kind: 'tabular', labelColumn: 'a', columns: [{ name: 'a', type: 'categorical', values: ['x'] }] }))).toBe('input.labelColumn');
    expect(refusedField(() => parseInputSpec({ kind: 'tabular', labelColumn: 'y', columns: [{ name: 'a', type: 'categorical', values: [] }] }))).toBe('input.columns[0].values');
  });
});

describe('CSV', () => {
  it('reads quoted fields with commas, quotes and newlines, CRLF and a BOM', () => {
    const { header, rows } = parseCsv('\uFEFFa,b\r\n1,"x, ""y"""\r\n2,"two\nlines"\n\n');
    expect(header).toEqual(['a', 'b']);
    expect(rows).toEqual([{ a: '1', b: 'x, "y"' }, { a: '2', b: 'two\nlines' }]);
  });

  it('names the line with the wrong number of fields', () => {
    expect(refusedField(() => parseCsv('a,b\n1,2\n3\n'))).toBe('line 3');
    expect(refusedField(() => parseCsv('a\n"open'))).toBe('csv');
  });
});
