import { describe, expect, it } from 'vitest';
import { Admission, DEFAULT_LIMITS, TokenBuckets, addressKey } from './admission.ts';

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
  it('answers 503 busy when too many uploads are in flight, 429 when one address has too many, and frees each slot once', () => {
    const admission = new Admission({ ...DEFAULT_LIMITS, maxInFlightUploads: 3, maxUploadsPerIp: 2 });
    const a1 = admission.enterUpload('1.1.1.1');
    admission.enterUpload('1.1.1.1');
    expect(() => admission.enterUpload('1.1.1.1')).toThrow(expect.objectContaining({ status: 429, code: 'too_many_uploads', retryAfterS: 2 }));
    const b1 = admission.enterUpload('2.2.2.2');
    expect(() => admission.enterUpload('3.3.3.3')).toThrow(expect.objectContaining({ status: 503, code: 'busy', retryAfterS: 2 }));
    b1();
    b1(); // a second call gives back nothing more
    expect(admission.uploadsInFlight).toBe(2);
    a1();
    expect(() => admission.enterUpload('1.1.1.1')).not.toThrow();
    expect(() => admission.enterUpload('3.3.3.3')).not.toThrow();
    expect(() => admission.enterUpload('4.4.4.4')).toThrow(expect.objectContaining({ code: 'busy' }));
  });

  it('counts an IPv6 host by its /64 and an IPv4-mapped address as IPv4', () => {
    expect(addressKey('203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    const admission = new Admission({ ...DEFAULT_LIMITS, maxUploadsPerIp: 1 });
    admission.enterUpload('2001:db8:1:2::1');
    expect(() => admission.enterUpload('2001:db8:1:2::2')).toThrow(expect.objectContaining({ code: 'too_many_uploads' }));
  });
});
