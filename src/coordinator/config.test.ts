import { describe, expect, it } from 'vitest';
import { roundPolicyFromEnv } from './config.ts';
import type { RoundPolicy } from './task.ts';

const sync: RoundPolicy = { minClients: 2, targetClients: 3, deadlineMs: 120_000 };
const buffered: RoundPolicy = { minClients: 5, targetClients: 5, deadlineMs: 300_000, leaseMs: 300_000, buffer: { size: 5, maxStaleness: 4, concurrency: 9, staleness: { kind: 'constant' } } };

describe('rounds from the environment', () => {
  it('makes a task buffered with COVEY_BUFFER_SIZE, with its defaults', () => {
    expect(roundPolicyFromEnv(sync, { COVEY_BUFFER_SIZE: '2' })).toEqual({ minClients: 2, targetClients: 2, deadlineMs: 300_000, leaseMs: 300_000, buffer: { size: 2, maxStaleness: 10, concurrency: 8, staleness: { kind: 'polynomial', exponent: 0.5 } } });
  });

  it('treats an empty value as unset', () => {
    expect(roundPolicyFromEnv(sync, { COVEY_BUFFER_SIZE: '' })).toBe(sync);
  });

  it('applies COVEY_MAX_STALENESS and COVEY_CONCURRENCY to a task file that is buffered, keeping its staleness', () => {
    expect(roundPolicyFromEnv(buffered, { COVEY_MAX_STALENESS: '2' }).buffer).toEqual({ size: 5, maxStaleness: 2, concurrency: 9, staleness: { kind: 'constant' } });
    expect(() => roundPolicyFromEnv(sync, { COVEY_CONCURRENCY: '4' })).toThrow(/set COVEY_BUFFER_SIZE too/);
  });

  it('refuses to buffer a task that aggregates securely or clips adaptively, and to set a buffered task\'s rounds', () => {
    expect(() => roundPolicyFromEnv(sync, { COVEY_BUFFER_SIZE: '2' }, { id: 'x', secureAggregation: {} })).toThrow(/aggregates securely/);
    expect(() => roundPolicyFromEnv(sync, { COVEY_BUFFER_SIZE: '2' }, { privacy: { adaptiveClipping: {} } })).toThrow(/clips adaptively/);
    expect(() => roundPolicyFromEnv(buffered, { COVEY_TARGET_CLIENTS: '4' })).toThrow(/use COVEY_BUFFER_SIZE/);
  });
});
