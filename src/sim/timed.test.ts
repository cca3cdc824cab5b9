import { describe, expect, it } from 'vitest';
import { createRng } from '../core/rng.ts';
import { tinyTask } from '../coordinator/test-fixtures.ts';
import { toyBatch } from './test-data.ts';
import { Device, HETEROGENEOUS, UNIFORM } from './devices.ts';
import type { SimClient } from './simulation.ts';
import { simulateTimed } from './timed.ts';

const batch = toyBatch;

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.floor(q * (xs.length - 1))]!;

describe('simulated devices', () => {
  it('draw speeds from LogNormal: median 20 samples/s, 1 in 20 over 5× slower', () => {
    const speeds = Array.from({ length: 20_000 }, (_, i) => new Device(HETEROGENEOUS, i).speed);
    expect(quantile(speeds, 0.5)).toBeGreaterThan(19);
    expect(quantile(speeds, 0.5)).toBeLessThan(21);
    // P(LogNormal(0, 1) > 5) = P(Z > ln 5 = 1.609) = 5.4 %
    const slow = speeds.filter((s) => s < 20 / 5).length / speeds.length;
    expect(slow).toBeGreaterThan(0.045);
    expect(slow).toBeLessThan(0.063);
  });

  it('are online in stretches, the next online moment never before the time asked, and always online when uniform', () => {
    const d = new Device(HETEROGENEOUS, 3);
    let online = 0;
    for (let t = 0; t < 7 * 24 * 3600; t += 60) {
      const next = d.nextOnline(t);
      expect(next).toBeGreaterThanOrEqual(t);
      if (next === t) online += 1;
      expect(d.isOnline(next)).toBe(true);
    }
    expect(online).toBeGreaterThan(0);
    expect(online).toBeLessThan(7 * 24 * 60);
    const u = new Device(UNIFORM, 3);
    expect([0, 1e3, 1e6].every((t) => u.isOnline(t))).toBe(true);
  });
});

describe('simulated time', () => {
  const rng = createRng(11);
  const clients: SimClient[] = Array.from({ length: 8 }, (_, i) => ({ id: `sim-client-000${i}`, train: batch(40, rng), heldOut: batch(0, rng) }));
  const test = batch(60, rng);
  const training = { epochs: 1, batchSize: 8, learningRate: 0.5, optimizer: 'sgd' as const, codec: 'f32' };
  const run = (buffered: boolean) =>
    simulateTimed(
      {
        task: tinyTask({ training, rounds: buffered ? { minClients: 2, targetClients: 2, deadlineMs: 120_000, leaseMs: 120_000, buffer: { size: 2, maxStaleness: 10, staleness: { kind: 'polynomial', exponent: 0.5 }, concurrency: 4 } } : { minClients: 1, targetClients: 3, deadlineMs: 120_000, leaseMs: 120_000 } }),
        clients,
        test,
        inputShape: [4],
        devices: HETEROGENEOUS,
        seed: 2,
        maxSimS: 24 * 3600,
        maxVersions: 6,
      },
      () => undefined,
    );

  it('runs synchronous rounds and buffers through the real federation, versions in simulated time, the same for the same seed', async () => {
    const sync = await run(false);
    expect(sync.map((r) => r.round)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(sync.every((r, i) => r.simTimeS! > (sync[i - 1]?.simTimeS ?? 0))).toBe(true);
    expect(sync.every((r) => r.clients === 3 && r.staleness === undefined)).toBe(true);
    const buffered = await run(true);
    expect(buffered.every((r) => r.clients === 2 && r.staleness !== undefined)).toBe(true);
    expect(buffered.some((r) => r.staleness!.max > 0)).toBe(true);
    expect((await run(true)).map((r) => [r.simTimeS, r.accuracy])).toEqual(buffered.map((r) => [r.simTimeS, r.accuracy]));
  }, 60_000);
});
