import { describe, expect, it } from 'vitest';
import { parseCheckinRequest, parseCheckinResponse, parseUpdateMeta, readApiError } from './protocol.ts';
import { refusedField } from './test-helpers.ts';


describe('protocol guards', () => {
  it('reads a well-formed check-in', () => {
    expect(parseCheckinRequest({ clientId: 'client-0001', exampleCount: 5, backend: 'webgl' })).toEqual({ clientId: 'client-0001', exampleCount: 5, backend: 'webgl' });
  });

  it('names the field that is wrong', () => {
    expect(refusedField(() => parseCheckinRequest(null))).toBe('body');
    expect(refusedField(() => parseCheckinRequest({ clientId: 'x', exampleCount: 1 }))).toBe('clientId');
    expect(refusedField(() => parseCheckinRequest({ clientId: 'client-0001', exampleCount: -1 }))).toBe('exampleCount');
    expect(refusedField(() => parseUpdateMeta({ clientId: 'client-0001', baseVersion: 0, numExamples: 0, loss: 1 }))).toBe('meta.numExamples');
    expect(refusedField(() => parseUpdateMeta({ clientId: 'client-0001', baseVersion: 0, numExamples: 3, loss: 'NaN' }))).toBe('meta.loss');
    expect(refusedField(() => parseCheckinResponse({ status: 'assigned', config: {} }))).toBe('roundId');
  });

  it('reads an API error body and ignores anything else', () => {
    expect(readApiError({ error: { code: 'x', message: 'y', field: 'z' } })).toEqual({ code: 'x', message: 'y', field: 'z' });
    expect(readApiError({ error: 'nope' })).toBeNull();
    expect(readApiError('text')).toBeNull();
  });
});
