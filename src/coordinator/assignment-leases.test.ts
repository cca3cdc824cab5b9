import { describe, expect, it } from 'vitest';
import { AssignmentLeases } from './assignment-leases.ts';

describe('assignment leases', () => {
  it('holds a place for the lease, and frees it when the client reports or stays silent past it', () => {
    const leases = new AssignmentLeases(1_000);
    leases.assign('a', 0);
    leases.assign('b', 400);
    leases.assign('c', 800);
    expect(leases.count(999)).toBe(3);
    expect(leases.nextLapseInMs(900)).toBe(100);
    leases.release('b');
    expect(leases.count(999)).toBe(2);
    expect(leases.count(1_000)).toBe(1); // a lapsed at 1000
    expect(leases.isLive('a', 1_000)).toBe(false);
    expect(leases.isLive('c', 1_799)).toBe(true);
    expect(leases.count(1_800)).toBe(0);
    expect(leases.nextLapseInMs(1_800)).toBeNull();
  });

  it('renews a lease assigned again, in time order', () => {
    const leases = new AssignmentLeases(1_000);
    leases.assign('a', 0);
    leases.assign('b', 500);
    leases.assign('a', 900);
    expect(leases.count(1_499)).toBe(2);
    expect(leases.count(1_500)).toBe(1);
    expect(leases.isLive('a', 1_899)).toBe(true);
  });
});
