/**
 * How much an update trained on an older model counts in buffered asynchronous aggregation (FedBuff, Nguyen
 * et al. 2022; the functions are Xie et al. 2019's FedAsync): an update whose base is τ versions behind the
 * current model has its delta scaled by s(τ) ∈ (0, 1] before it joins the buffer.
 *
 *   constant              s(τ) = 1
 *   polynomial (a)        s(τ) = (1 + τ)^−a           FedBuff's default is a = ½: 1/√(1+τ)
 *   hinge (a, b)          s(τ) = 1 for τ ≤ b, 1 / (a(τ − b) + 1) after
 */
import { ValidationError, asObject, readNumber, readOneOf } from './validate.ts';

export type StalenessFunction =
  | { kind: 'constant' }
  | { kind: 'polynomial'; exponent: number }
  | { kind: 'hinge'; a: number; b: number };

export const DEFAULT_STALENESS: StalenessFunction = { kind: 'polynomial', exponent: 0.5 };

export function stalenessWeight(fn: StalenessFunction, tau: number): number {
  if (!Number.isInteger(tau) || tau < 0) throw new RangeError(`staleness must be a whole number of versions ≥ 0, got ${tau}`);
  switch (fn.kind) {
    case 'constant':
      return 1;
    case 'polynomial':
      return (1 + tau) ** -fn.exponent;
    case 'hinge':
      return tau <= fn.b ? 1 : 1 / (fn.a * (tau - fn.b) + 1);
  }
}

/** Names a staleness function for tables and logs: `1/sqrt(1+t)`, `(1+t)^-1`, `hinge(a=10,b=4)`, `constant`. */
export function describeStaleness(fn: StalenessFunction): string {
  if (fn.kind === 'constant') return 'constant';
  if (fn.kind === 'hinge') return `hinge(a=${fn.a},b=${fn.b})`;
  return fn.exponent === 0.5 ? '1/sqrt(1+t)' : `(1+t)^-${fn.exponent}`;
}

/**
 * From a task file (or a command line): `"constant"`, `"sqrt"` (the default), `"polynomial"` with
 * `exponent`, or `{"kind": "hinge", "a": 10, "b": 4}`.
 */
export function readStaleness(value: unknown, field: string): StalenessFunction {
  if (value === undefined || value === 'sqrt') return DEFAULT_STALENESS;
  if (value === 'constant') return { kind: 'constant' };
  if (typeof value === 'string') throw new ValidationError(field, `must be "constant", "sqrt", or {"kind": "polynomial", "exponent"} / {"kind": "hinge", "a", "b"}; got "${value}"`);
  const o = asObject(value, field);
  const kind = readOneOf(o, 'kind', ['constant', 'polynomial', 'hinge'] as const, `${field}.kind`);
  if (kind === 'constant') return { kind };
  if (kind === 'polynomial') return { kind, exponent: readNumber(o, 'exponent', { min: 0, max: 10 }, `${field}.exponent`) };
  return { kind, a: readNumber(o, 'a', { min: 0, max: 1e3 }, `${field}.a`), b: readNumber(o, 'b', { min: 0, max: 1e4, integer: true }, `${field}.b`) };
}
