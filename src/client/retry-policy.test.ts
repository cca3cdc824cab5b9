import { describe, expect, it } from 'vitest';
import { backoffDelayMs, decideRetry, isRetryableStatus, type RetryPolicy } from './retry-policy.ts';

const policy: RetryPolicy = { baseMs: 1_000, maxMs: 8_000, maxAttempts: 5, maxAgeMs: 60_000 };

describe('retry policy', () => {
  it('backs off exponentially with full jitter, capped', () => {
    expect([0, 1, 2, 3, 4, 10].map((a) => backoffDelayMs(a, policy, () => 0.999999))).toEqual([999, 1999, 3999, 7999, 7999, 7999]);
    expect(backoffDelayMs(3, policy, () => 0)).toBe(0);
    expect(backoffDelayMs(2, policy, () => 0.5)).toBe(2000);
  });

  it('retries network failures, timeouts, throttling and server errors, not other refusals', () => {
    expect([undefined, 408, 429, 500, 503].every(isRetryableStatus)).toBe(true);
    expect([400, 403, 404, 409, 413, 415].some(isRetryableStatus)).toBe(false);
  });

  it('schedules the next attempt from now', () => {
    expect(decideRetry({ attempts: 1, createdAt: 0, status: undefined, now: 10_000 }, policy, () => 0.5)).toEqual({ retry: true, at: 10_500 });
    expect(decideRetry({ attempts: 3, createdAt: 0, status: 503, now: 10_000 }, policy, () => 0.5)).toEqual({ retry: true, at: 12_000 });
  });

  it("waits at least as long as the server's Retry-After, within the cap", () => {
    expect(decideRetry({ attempts: 1, createdAt: 0, status: 503, now: 10_000, retryAfterS: 2 }, policy, () => 0.5)).toEqual({ retry: true, at: 12_000 });
    expect(decideRetry({ attempts: 3, createdAt: 0, status: 429, now: 10_000, retryAfterS: 1 }, policy, () => 0.5)).toEqual({ retry: true, at: 12_000 });
    expect(decideRetry({ attempts: 1, createdAt: 0, status: 503, now: 10_000, retryAfterS: 3600 }, policy, () => 0.5)).toEqual({ retry: true, at: 18_000 });
  });

  it('never retries forever: gives up after maxAttempts or maxAge, and at once on a refusal', () => {
    expect(decideRetry({ attempts: 5, createdAt: 0, status: 503, now: 1 }, policy)).toMatchObject({ retry: false, reason: /after 5 attempts/ });
    // No answer at all (the coordinator is down): waited for until the retry window ends, not counted out.
    expect(decideRetry({ attempts: 50, createdAt: 0, status: undefined, now: 1 }, policy)).toMatchObject({ retry: true });
    expect(decideRetry({ attempts: 1, createdAt: 0, status: undefined, now: 60_000 }, policy)).toMatchObject({ retry: false, reason: /retry window/ });
    expect(decideRetry({ attempts: 1, createdAt: 0, status: 409, now: 1 }, policy)).toMatchObject({ retry: false, reason: /409/ });
    // A task its operator paused: the update waits, however long, until the retry window ends.
    expect(decideRetry({ attempts: 50, createdAt: 0, status: 503, now: 1, retryAfterS: 10, code: 'task_paused' }, policy)).toMatchObject({ retry: true });
    expect(decideRetry({ attempts: 50, createdAt: 0, status: 503, now: 60_000, retryAfterS: 10, code: 'task_paused' }, policy)).toMatchObject({ retry: false, reason: /retry window/ });
  });
});
