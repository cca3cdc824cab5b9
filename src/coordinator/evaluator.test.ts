import { describe, expect, it } from 'vitest';
import type { HistoryPoint } from '../core/protocol.ts';
import { TINY_PARAMS, startTestCoordinator, updateFrame } from './test-fixtures.ts';

const ones = (x: number) => new Array<number>(TINY_PARAMS).fill(x);

describe('held-out evaluation', () => {
  it('records a diverged model without numbers instead of crashing, and evaluates the next versions', async () => {
    const { coordinator, base } = await startTestCoordinator();
    try {
      const fed = coordinator.tasks.get('tiny')!.federation;
      // Round 1 drives every weight to 3e38 (finite; a poisoned round): its outputs are not numbers.
      // Round 2 brings the weights back.
      for (const [round, delta] of [[1, 3e38], [2, -3e38]] as const) {
        for (const client of ['client-aaaa', 'client-bbbb']) {
          fed.checkin({ clientId: client, exampleCount: 10 });
          fed.acceptUpload(round, `update-${round}-${client}`, updateFrame(client, ones(delta), { baseVersion: round - 1 }));
        }
        fed.advance();
        await coordinator.evaluated();
      }
      const history = (await (await fetch(`${base}/v1/tasks/tiny/history`)).json()) as HistoryPoint[];
      expect(history.map((h) => h.version)).toEqual([0, 1, 2]);
      expect(history[1]!.loss).toBeNull();
      expect(history[2]!.loss).toEqual(expect.any(Number));
      // Version 1 is recorded as evaluated (without numbers), so it is not tried again at every round.
      expect(coordinator.store.unevaluatedVersions('tiny')).toEqual([]);
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
    } finally {
      await coordinator.close();
    }
  });
});
