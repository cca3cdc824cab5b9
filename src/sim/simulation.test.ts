import { describe, expect, it } from 'vitest';
import { createRng } from '../core/rng.ts';
import { tinyTask } from '../coordinator/test-fixtures.ts';
import type { ExampleBatch } from '../model/tf-model.ts';
import { toyBatch } from './test-data.ts';
import { simulate, type SimClient } from './simulation.ts';

const batch = toyBatch;

function clients(seed: number): { clients: SimClient[]; test: ExampleBatch } {
  const rng = createRng(seed);
  return { clients: Array.from({ length: 4 }, (_, i) => ({ id: `sim-client-000${i}`, train: batch(40, rng), heldOut: batch(8, rng) })), test: batch(60, rng) };
}

const run = () => {
  const { clients: cs, test } = clients(5);
  const task = tinyTask({ training: { epochs: 2, batchSize: 8, learningRate: 0.5, optimizer: 'sgd', codec: 'f32', personalization: { epochs: 1, layers: 'all' } }, rounds: { minClients: 1, targetClients: 2, deadlineMs: 3_600_000 } });
  return simulate({ task, clients: cs, test, inputShape: [4], perRound: 2, rounds: 4, seed: 9 }, () => undefined);
};

describe('simulator', () => {
  it('runs rounds through the real federation, learns, reports federated and personal accuracy, and repeats exactly for the same seed', async () => {
    const first = await run();
    expect(first.map((r) => r.round)).toEqual([1, 2, 3, 4]);
    expect(first.every((r) => r.clients === 2 && r.refused === 0 && r.bytesUp > 0 && r.bytesDown > 0)).toBe(true);
    expect(first.every((r) => r.federatedAccuracy !== null && r.personalAccuracy !== null)).toBe(true);
    expect(first.at(-1)!.loss).toBeLessThan(first[0]!.loss);
    const second = await run();
    expect(second.map((r) => [r.accuracy, r.loss, r.federatedAccuracy, r.personalAccuracy, r.clientLoss])).toEqual(first.map((r) => [r.accuracy, r.loss, r.federatedAccuracy, r.personalAccuracy, r.clientLoss]));
  });

  it('goes on when the coordinator refuses an upload: the round closes with the rest, and the client is sampled again later', async () => {
    const { clients: cs, test } = clients(6);
    const task = tinyTask({ maxUpdateNorm: 5, rounds: { minClients: 1, targetClients: 2, deadlineMs: 3_600_000 } });
    const records = await simulate({ task, clients: cs, test, inputShape: [4], perRound: 2, rounds: 6, seed: 3, tamper: (id, d) => (id === 'sim-client-0001' ? d.map((v) => v * 1e4) : d) }, () => undefined);
    expect(records).toHaveLength(6);
    expect(records.reduce((n, r) => n + r.refused, 0)).toBeGreaterThanOrEqual(2);
  });
});
