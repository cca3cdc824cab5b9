import { describe, expect, it } from 'vitest';
import { ApiFailure } from './api-failure.ts';
import { Admission, TokenBuckets } from './admission.ts';

describe('token buckets', () => {
  it('allow a burst, then one request per 1/rate seconds, and say how long to wait', () => {
    let now = 0;
    const b = new TokenBuckets(3, 2, 100, () => now);
    expect([b.take('a'), b.take('a'), b.take('a')]).toEqual([0, 0, 0]);
    expect(b.take('a')).toBe(1); // empty: at 2 per second, a token in 0.5 s, rounded up to 1 s
    now += 500;
    expect(b.take('a')).toBe(0);
    expect(b.take('b')).toBe(0); // another key has its own bucket
  });

  it('forget the least recently used key beyond the cap', () => {
    const b = new TokenBuckets(1, 1, 2, () => 0);
    b.take('a');
    b.take('b');
    b.take('c');
    expect(b.size).toBe(2);
    expect(b.take('a')).toBe(0); // 'a' was forgotten, so it starts full again
  });
});

describe('admission', () => {
  it('answers 429 with Retry-After when an address or a client goes too fast', () => {
    const admission = new Admission({ maxInFlightUploads: 1, ipBurst: 1, ipPerSecond: 1, clientBurst: 1, clientPerSecond: 1, maxTrackedKeys: 10 }, () => 0);
    admission.checkIp('1.2.3.4');
    expect(() => admission.checkIp('1.2.3.4')).toThrow(expect.objectContaining({ status: 429, code: 'rate_limited', retryAfterS: 1 }));
    admission.checkClient('client-a');
    expect(() => admission.checkClient('client-a')).toThrow(ApiFailure);
  });

  it('answers 503 busy when too many uploads are in flight, and frees the slot after each', () => {
    const admission = new Admission({ maxInFlightUploads: 1, ipBurst: 9, ipPerSecond: 9, clientBurst: 9, clientPerSecond: 9, maxTrackedKeys: 10 });
    admission.enterUpload();
    expect(() => admission.enterUpload()).toThrow(expect.objectContaining({ status: 503, code: 'busy', retryAfterS: 2 }));
    admission.leaveUpload();
    expect(() => admission.enterUpload()).not.toThrow();
  });
});
