import { describe, expect, it } from 'vitest';
import { parseCheckinRequest, parseCheckinResponse, parseUpdateMeta, readApiError } from './protocol.ts';
import { ValidationError } from './validate.ts';

const fieldOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (e) {
    if (e instanceof ValidationError) return e.field;
    throw e;
  }
  return undefined;
};

describe('protocol guards', () => {
  it('reads a well-formed check-in', () => {
    expect(parseCheckinRequest({ clientId: 'client-0001', exampleCount: 5, backend: 'webgl' })).toEqual({ clientId: 'client-0001', exampleCount: 5, backend: 'webgl' });
  });

  it('names the field that is wrong', () => {
    expect(fieldOf(() => parseCheckinRequest(null))).toBe('body');
    expect(fieldOf(() => parseCheckinRequest({ clientId: 'x', exampleCount: 1 }))).toBe('clientId');
    expect(fieldOf(() => parseCheckinRequest({ clientId: 'client-0001', exampleCount: -1 }))).toBe('exampleCount');
    expect(fieldOf(() => parseUpdateMeta({ clientId: 'client-0001', baseVersion: 0, numExamples: 0, loss: 1 }))).toBe('meta.numExamples');
    expect(fieldOf(() => parseUpdateMeta({ clientId: 'client-0001', baseVersion: 0, numExamples: 3, loss: 'NaN' }))).toBe('meta.loss');
    expect(fieldOf(() => parseCheckinResponse({ status: 'assigned', config: {} }))).toBe('roundId');
  });

  it('reads an API error body and ignores anything else', () => {
    expect(readApiError({ error: { code: 'x', message: 'y', field: 'z' } })).toEqual({ code: 'x', message: 'y', field: 'z' });
    expect(readApiError({ error: 'nope' })).toBeNull();
    expect(readApiError('text')).toBeNull();
  });
});
