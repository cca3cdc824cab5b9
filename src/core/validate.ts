/**
 * Hand-written guards for data that crosses a boundary. Everything from the network, postMessage or
 * IndexedDB is `unknown` until one of these has read it; a failure names the field that is wrong.
 */
export class ValidationError extends Error {
  override readonly name = 'ValidationError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

export type Fields = Record<string, unknown>;

export function asObject(value: unknown, field: string): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ValidationError(field, 'must be an object');
  }
  return value as Fields;
}

export function readString(obj: Fields, key: string, path = key): string {
  const v = obj[key];
  if (typeof v !== 'string') throw new ValidationError(path, 'must be a string');
  return v;
}

export function readOptionalString(obj: Fields, key: string, path = key): string | undefined {
  return obj[key] === undefined ? undefined : readString(obj, key, path);
}

export function readNumber(obj: Fields, key: string, opts: { min?: number; max?: number; integer?: boolean } = {}, path = key): number {
  const v = obj[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ValidationError(path, 'must be a finite number');
  if (opts.integer && !Number.isInteger(v)) throw new ValidationError(path, 'must be an integer');
  if (opts.min !== undefined && v < opts.min) throw new ValidationError(path, `must be at least ${opts.min}`);
  if (opts.max !== undefined && v > opts.max) throw new ValidationError(path, `must be at most ${opts.max}`);
  return v;
}

export function readOptionalNumber(obj: Fields, key: string, opts: { min?: number; max?: number; integer?: boolean } = {}, path = key): number | undefined {
  return obj[key] === undefined ? undefined : readNumber(obj, key, opts, path);
}

export function readBoolean(obj: Fields, key: string, path = key): boolean {
  const v = obj[key];
  if (typeof v !== 'boolean') throw new ValidationError(path, 'must be true or false');
  return v;
}

export function readOneOf<T extends string>(obj: Fields, key: string, allowed: readonly T[], path = key): T {
  const v = readString(obj, key, path);
  if (!(allowed as readonly string[]).includes(v)) throw new ValidationError(path, `must be one of ${allowed.join(', ')}`);
  return v as T;
}

export function assertNever(value: never): never {
  throw new Error(`unexpected value ${JSON.stringify(value)}`);
}
