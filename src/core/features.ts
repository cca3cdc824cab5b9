/**
 * How a task's raw examples become model inputs, declared in its task file and applied the same way by the
 * browser (CSV import) and the coordinator (held-out set):
 *
 * - `image`: uint8 intensities in a fixed shape, multiplied by `scale` in the trainer.
 * - `tabular`: named CSV columns, each numeric (optionally log1p, then standardised with the task's mean and
 *   standard deviation) or categorical (one-hot over the listed values; an unlisted value is all zeros).
 */
import { ValidationError, asObject, readNumber, readOneOf, readString } from './validate.ts';

export type ColumnSpec =
  | { name: string; type: 'numeric'; mean: number; std: number; log?: boolean }
  | { name: string; type: 'categorical'; values: string[] };

export type InputSpec =
  | { kind: 'image'; shape: number[]; scale: number }
  | { kind: 'tabular'; columns: ColumnSpec[]; labelColumn: string };

/** Length of one encoded example. */
export function featureCount(spec: InputSpec): number {
  if (spec.kind === 'image') return spec.shape.reduce((a, b) => a * b, 1);
  return spec.columns.reduce((n, c) => n + (c.type === 'numeric' ? 1 : c.values.length), 0);
}

/** The model's input shape, without the batch dimension. */
export function inputShape(spec: InputSpec): number[] {
  return spec.kind === 'image' ? spec.shape : [featureCount(spec)];
}

/** Encodes one tabular row (column name → raw text) into `out`; throws naming the column that is wrong. */
export function encodeRow(spec: Extract<InputSpec, { kind: 'tabular' }>, row: Readonly<Record<string, string>>, out = new Float32Array(featureCount(spec))): Float32Array {
  let i = 0;
  for (const col of spec.columns) {
    const raw = row[col.name];
    if (raw === undefined) throw new ValidationError(col.name, 'is missing');
    if (col.type === 'numeric') {
      let v = Number(raw.trim());
      if (raw.trim() === '' || !Number.isFinite(v)) throw new ValidationError(col.name, `"${raw}" is not a number`);
      if (col.log) {
        if (v < 0) throw new ValidationError(col.name, 'must not be negative');
        v = Math.log1p(v);
      }
      out[i++] = (v - col.mean) / col.std;
    } else {
      const at = col.values.indexOf(raw.trim());
      for (let k = 0; k < col.values.length; k++) out[i + k] = k === at ? 1 : 0;
      i += col.values.length;
    }
  }
  return out;
}

export function parseInputSpec(value: unknown, path = 'input'): InputSpec {
  const o = asObject(value, path);
  const kind = readOneOf(o, 'kind', ['image', 'tabular'] as const, `${path}.kind`);
  if (kind === 'image') {
    const shape = o.shape;
    if (!Array.isArray(shape) || shape.length === 0 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
      throw new ValidationError(`${path}.shape`, 'must be a list of positive integers');
    }
    return { kind, shape: shape as number[], scale: readNumber(o, 'scale', { min: 0 }, `${path}.scale`) };
  }
  if (!Array.isArray(o.columns) || o.columns.length === 0) throw new ValidationError(`${path}.columns`, 'must be a non-empty list');
  const columns = o.columns.map((c: unknown, i) => parseColumn(c, `${path}.columns[${i}]`));
  const names = new Set<string>();
  for (const [i, c] of columns.entries()) {
    if (names.has(c.name)) throw new ValidationError(`${path}.columns[${i}].name`, `"${c.name}" appears twice`);
    names.add(c.name);
  }
  const labelColumn = readString(o, 'labelColumn', `${path}.labelColumn`);
  if (names.has(labelColumn)) throw new ValidationError(`${path}.labelColumn`, 'must not also be a feature column');
  return { kind, columns, labelColumn };
}

function parseColumn(value: unknown, path: string): ColumnSpec {
  const o = asObject(value, path);
  const name = readString(o, 'name', `${path}.name`);
  const type = readOneOf(o, 'type', ['numeric', 'categorical'] as const, `${path}.type`);
  if (type === 'categorical') {
    const values = o.values;
    if (!Array.isArray(values) || values.length === 0 || !values.every((v) => typeof v === 'string')) {
      throw new ValidationError(`${path}.values`, 'must be a non-empty list of strings');
    }
    return { name, type, values: values as string[] };
  }
  const std = readNumber(o, 'std', {}, `${path}.std`);
  if (!(std > 0)) throw new ValidationError(`${path}.std`, 'must be greater than 0');
  if (o.log !== undefined && typeof o.log !== 'boolean') throw new ValidationError(`${path}.log`, 'must be true or false');
  return { name, type, mean: readNumber(o, 'mean', {}, `${path}.mean`), std, ...(o.log ? { log: true } : {}) };
}
