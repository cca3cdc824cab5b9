/**
 * The file a person exports their examples to and imports them from: JSON, one object per example with its
 * features in base64. Read as `unknown` and checked field by field; a bad file is refused whole, naming the
 * first field that is wrong, and nothing is stored.
 */
import { ValidationError, asObject, readNumber, readOneOf, readString } from '../core/validate.ts';
import type { ExampleSource, StoredExample } from './store.ts';
import { fromBase64, toBase64 } from './base64.ts';

export const EXAMPLES_FORMAT = 'covey-examples';
export const EXAMPLES_FORMAT_VERSION = 2;
export const MAX_IMPORT_EXAMPLES = 100_000;

export interface ExamplesFile {
  format: typeof EXAMPLES_FORMAT;
  version: number;
  taskId: string;
  featureCount: number;
  exportedAt: string;
  /** Each example's features: base64 of uint8 values, or of float32 little-endian values for `dtype` float32. */
  dtype: 'uint8' | 'float32';
  examples: { label: number; features: string; source: ExampleSource; addedAt: number }[];
}

export function serializeExamples(taskId: string, featureCount: number, examples: readonly StoredExample[]): string {
  const file: ExamplesFile = {
    format: EXAMPLES_FORMAT,
    version: EXAMPLES_FORMAT_VERSION,
    taskId,
    featureCount,
    exportedAt: new Date().toISOString(),
    dtype: examples[0]?.features instanceof Float32Array ? 'float32' : 'uint8',
    examples: examples.map((e) => ({ label: e.label, features: toBase64(new Uint8Array(e.features.buffer, e.features.byteOffset, e.features.byteLength)), source: e.source, addedAt: e.addedAt })),
  };
  return JSON.stringify(file);
}

/** Checks an imported file against the task it is imported into and returns the examples to store. */
export function parseExamplesFile(text: string, expected: { taskId: string; featureCount: number; labelCount: number }): Omit<StoredExample, 'id'>[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ValidationError('file', 'is not JSON');
  }
  const o = asObject(json, 'file');
  if (o.format !== EXAMPLES_FORMAT) throw new ValidationError('format', `must be "${EXAMPLES_FORMAT}": this is not a Covey examples file`);
  readNumber(o, 'version', { integer: true, min: EXAMPLES_FORMAT_VERSION, max: EXAMPLES_FORMAT_VERSION });
  const dtype = readOneOf(o, 'dtype', ['uint8', 'float32'] as const);
  if (readString(o, 'taskId') !== expected.taskId) throw new ValidationError('taskId', `is "${String(o.taskId)}", but these examples are for "${expected.taskId}"`);
  if (readNumber(o, 'featureCount', { integer: true }) !== expected.featureCount) throw new ValidationError('featureCount', `must be ${expected.featureCount}`);
  if (!Array.isArray(o.examples)) throw new ValidationError('examples', 'must be a list');
  if (o.examples.length > MAX_IMPORT_EXAMPLES) throw new ValidationError('examples', `has more than ${MAX_IMPORT_EXAMPLES} entries`);
  const importedAt = Date.now();
  return o.examples.map((raw: unknown, i) => {
    const path = `examples[${i}]`;
    const e = asObject(raw, path);
    const label = readNumber(e, 'label', { integer: true, min: 0, max: expected.labelCount - 1 }, `${path}.label`);
    const bytes = fromBase64(readString(e, 'features', `${path}.features`), `${path}.features`);
    const features = dtype === 'uint8' ? bytes : bytes.byteLength % 4 === 0 ? new Float32Array(bytes.buffer) : null;
    if (features?.length !== expected.featureCount) throw new ValidationError(`${path}.features`, `has ${features ? features.length : 'a partial'} value(s), expected ${expected.featureCount}`);
    if (features instanceof Float32Array && features.some((v) => !Number.isFinite(v))) throw new ValidationError(`${path}.features`, 'holds a value that is not a finite number');
    const addedAt = typeof e.addedAt === 'number' && Number.isFinite(e.addedAt) ? e.addedAt : importedAt;
    return { taskId: expected.taskId, label, features, source: 'imported' as const, addedAt };
  });
}
