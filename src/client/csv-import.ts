/**
 * Imports a person's CSV file of examples for a tabular task: every row is checked and encoded as the
 * task's input spec says, and the label read from its label column (a class index, or a label name). A
 * file with any bad row is refused whole, naming the line and column; nothing is stored then.
 */
import { parseCsv } from '../core/csv.ts';
import { encodeRow, featureCount } from '../core/features.ts';
import type { TaskSummary } from '../core/protocol.ts';
import { ValidationError } from '../core/validate.ts';
import type { CoveyStore, ExampleSource, StoredExample } from './store.ts';

export const MAX_CSV_ROWS = 200_000;

export function examplesFromCsv(text: string, task: TaskSummary, source: ExampleSource = 'imported'): Omit<StoredExample, 'id'>[] {
  const input = task.input;
  if (input.kind !== 'tabular') throw new ValidationError('task', `${task.name} does not take CSV files`);
  const { header, rows } = parseCsv(text);
  for (const needed of [...input.columns.map((c) => c.name), input.labelColumn]) {
    if (!header.includes(needed)) throw new ValidationError('header', `has no column "${needed}"`);
  }
  if (rows.length > MAX_CSV_ROWS) throw new ValidationError('csv', `has more than ${MAX_CSV_ROWS} rows`);
  const n = featureCount(input);
  const addedAt = Date.now();
  return rows.map((row, i) => {
    const line = `line ${i + 2}`;
    let features: Float32Array;
    try {
      features = encodeRow(input, row, new Float32Array(n));
    } catch (e) {
      if (e instanceof ValidationError) throw new ValidationError(`${line}, column ${e.field}`, e.message.slice(e.field.length + 2));
      throw e;
    }
    return { taskId: task.id, label: readLabel(row[input.labelColumn]!, task.labels, line, input.labelColumn), features, source, addedAt };
  });
}

function readLabel(raw: string, labels: readonly string[], line: string, column: string): number {
  const value = raw.trim();
  const byName = labels.indexOf(value);
  if (byName >= 0) return byName;
  const index = Number(value);
  if (value !== '' && Number.isInteger(index) && index >= 0 && index < labels.length) return index;
  throw new ValidationError(`${line}, column ${column}`, `"${raw}" is not one of ${labels.map((l, i) => `${i} (${l})`).join(', ')}`);
}

export async function importCsv(store: CoveyStore, text: string, task: TaskSummary, source: ExampleSource = 'imported'): Promise<number> {
  const examples = examplesFromCsv(text, task, source);
  await store.add(examples);
  return examples.length;
}
