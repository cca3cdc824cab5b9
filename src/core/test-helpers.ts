/** Helpers for unit tests of code that validates: what a call refused, by field. Test-only. */
import { ValidationError } from './validate.ts';

/** The field a ValidationError from `fn` names; undefined when `fn` does not throw. Other errors propagate. */
export function refusedField(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof ValidationError) return e.field;
    throw e;
  }
  return undefined;
}

/** The message of a ValidationError from `fn`; 'no error' when `fn` does not throw. */
export function refusalMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof ValidationError) return e.message;
    throw e;
  }
  return 'no error';
}
