import { describe, expect, it } from 'vitest';
import { meanPaceMs, paceMs, RecentClients, type PaceInput } from './pace.ts';

const input = (over: Partial<PaceInput> = {}): PaceInput => ({ population: 1000, wantedPerSecond: 10, floorMs: 2_000, capMs: 15 * 60_000, ...over });

/** A seeded generator (mulberry32), so the spread below is the same on every run. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('pace steering', () => {
  it('asks P clients to come back after P / R seconds on average, between the floor and the cap', () => {
    expect(meanPaceMs(input())).toBe(100_000); // 1,000 clients at 10 a second: 100 s
    expect(meanPaceMs(input({ population: 3 }))).toBe(2_000); // 0.3 s, floored
    expect(meanPaceMs(input({ population: 1e6 }))).toBe(15 * 60_000); // 100,000 s, capped
    expect(meanPaceMs(input({ wantedPerSecond: 0 }))).toBe(15 * 60_000);
  });

  it('draws each wait uniformly within ±50 % of the mean', () => {
    expect(paceMs(input(), () => 0)).toBe(50_000);
    expect(paceMs(input(), () => 0.5)).toBe(100_000);
    expect(paceMs(input(), () => 0.999_999)).toBe(150_000);
    // Never under the floor, even with jitter.
    expect(paceMs(input({ population: 3 }), () => 0)).toBe(2_000);
  });

  it('spreads 1,000 clients told to wait at once over the interval instead of sending them back together', () => {
    const random = seeded(7);
    const waits = Array.from({ length: 1000 }, () => paceMs(input(), random));
    // Ten bins of 10 s over [50 s, 150 s): a uniform spread puts 100 in each.
    const bins = new Array<number>(10).fill(0);
    for (const w of waits) bins[Math.min(9, Math.floor((w - 50_000) / 10_000))]! += 1;
    expect(Math.min(...bins)).toBeGreaterThan(70);
    expect(Math.max(...bins)).toBeLessThan(130);
    // At most a handful come back in any one second (a burst would be all 1,000).
    const perSecond = new Map<number, number>();
    for (const w of waits) perSecond.set(Math.floor(w / 1000), (perSecond.get(Math.floor(w / 1000)) ?? 0) + 1);
    expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(25);
  });

  it('counts the distinct clients seen within its window', () => {
    const recent = new RecentClients(60_000);
    recent.touch('a', 0);
    recent.touch('b', 10_000);
    recent.touch('a', 20_000); // seen again: counted once, and kept from its last sight
    expect(recent.count(20_000)).toBe(2);
    expect(recent.count(70_000)).toBe(1); // b's last sight was 60 s ago
    expect(recent.count(80_000)).toBe(0);
  });
});
