import { describe, expect, it } from 'vitest';
import { epsilonOf } from '../core/privacy/rdp.ts';
import { ApiFailure } from './api-failure.ts';
import { Federation } from './federation.ts';
import { CoordinatorStore } from './store.ts';
import { parseTaskFile } from './task-file.ts';
import { TINY_PARAMS, tinyTask, updateFrame } from './test-fixtures.ts';
import type { PrivacyPolicy } from './task.ts';

const small = (x: number) => new Array<number>(TINY_PARAMS).fill(x);
const code = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    if (e instanceof ApiFailure) return e.code;
    throw e;
  }
  return 'accepted';
};

function privateFederation(privacy: Partial<PrivacyPolicy> = {}) {
  const store = new CoordinatorStore(':memory:');
  const policy: PrivacyPolicy = { mode: 'central', clipNorm: 1, noiseMultiplier: 1, delta: 1e-5, ...privacy };
  const fed = new Federation(tinyTask({ privacy: policy, rounds: { minClients: 2, targetClients: 2, deadlineMs: 60_000 } }), new Float32Array(TINY_PARAMS), store, {}, () => 0);
  return { store, fed };
}

describe('central differential privacy in rounds', () => {
  it('refuses an update over the clip norm, naming it', () => {
    const { fed } = privateFederation();
    expect(code(() => fed.acceptUpload(1, 'update-big-1', updateFrame('client-aaaa', small(1))))).toBe('norm_over_clip');
    expect(code(() => fed.acceptUpload(1, 'update-ok-01', updateFrame('client-aaaa', small(0.2))))).toBe('accepted');
  });

  it('records ε per version from the sampling rate it really had, composed over rounds', () => {
    const { store, fed } = privateFederation();
    // Four clients seen, two updates a round: q = 2/4.
    for (const id of ['client-cccc', 'client-dddd']) fed.checkin({ clientId: id, exampleCount: 5 });
    for (const round of [1, 2]) {
      fed.acceptUpload(round, `update-a-${round}x`, updateFrame('client-aaaa', small(0.1), { baseVersion: round - 1 }));
      fed.acceptUpload(round, `update-b-${round}x`, updateFrame('client-bbbb', small(-0.1), { baseVersion: round - 1 }));
      fed.advance();
    }
    const history = store.history('tiny');
    expect(history.map((h) => h.version)).toEqual([0, 1, 2]);
    expect(history[0]!.privacy).toBeUndefined();
    expect(history[1]!.privacy).toMatchObject({ samplingRate: 0.5, noiseMultiplier: 1, clipNorm: 1, delta: 1e-5 });
    expect(history[1]!.privacy!.epsilon).toBeCloseTo(epsilonOf({ q: 0.5, noise: 1, rounds: 1, delta: 1e-5 }).epsilon, 9);
    expect(history[2]!.privacy!.epsilon).toBeCloseTo(epsilonOf({ q: 0.5, noise: 1, rounds: 2, delta: 1e-5 }).epsilon, 9);
    expect(fed.summary().privacy).toMatchObject({ epsilon: history[2]!.privacy!.epsilon, budgetSpent: false });
  });

  it('reports beside ε what holds without the sampling assumption: a client in every round', () => {
    const { store, fed } = privateFederation();
    for (const id of ['client-cccc', 'client-dddd']) fed.checkin({ clientId: id, exampleCount: 5 });
    fed.acceptUpload(1, 'update-a-1x', updateFrame('client-aaaa', small(0.1)));
    fed.acceptUpload(1, 'update-b-1x', updateFrame('client-bbbb', small(0.1)));
    fed.advance();
    const p = store.history('tiny')[1]!.privacy!;
    expect(p.rounds).toBe(1);
    expect(p.epsilonUnsampled).toBeCloseTo(epsilonOf({ q: 1, noise: 1, rounds: 1, delta: 1e-5 }).epsilon, 9);
    expect(p.epsilonUnsampled).toBeGreaterThan(p.epsilon);
  });

  it('gives no guarantee to a federation that trained without privacy before (a restart with privacy turned on)', () => {
    const store = new CoordinatorStore(':memory:');
    const plain = new Federation(tinyTask({ rounds: { minClients: 1, targetClients: 1, deadlineMs: 60_000 } }), new Float32Array(TINY_PARAMS), store, {}, () => 0);
    plain.acceptUpload(1, 'update-a-1x', updateFrame('client-aaaa', small(0.1)));
    plain.advance();
    const policy: PrivacyPolicy = { mode: 'central', clipNorm: 1, noiseMultiplier: 1, delta: 1e-5, maxEpsilon: 100 };
    const restarted = new Federation(tinyTask({ privacy: policy, rounds: { minClients: 1, targetClients: 1, deadlineMs: 60_000 } }), new Float32Array(TINY_PARAMS), store, {}, () => 0);
    expect(restarted.summary().privacy).toMatchObject({ epsilon: Infinity, budgetSpent: true });
  });

  it('says so, without failing, when even a first round would pass the budget', () => {
    const { fed } = privateFederation({ maxEpsilon: 0.01 });
    expect(fed.checkin({ clientId: 'client-aaaa', exampleCount: 5 })).toMatchObject({ status: 'wait', reason: expect.stringMatching(/privacy budget spent/) });
  });

  it('keeps an unbounded ε unbounded across rounds (noise 0: no guarantee)', () => {
    const { store, fed } = privateFederation({ noiseMultiplier: 0 });
    for (const round of [1, 2]) {
      fed.acceptUpload(round, `update-a-${round}x`, updateFrame('client-aaaa', small(0.1), { baseVersion: round - 1 }));
      fed.acceptUpload(round, `update-b-${round}x`, updateFrame('client-bbbb', small(0.1), { baseVersion: round - 1 }));
      fed.advance();
    }
    expect(store.history('tiny').map((h) => h.privacy?.epsilon)).toEqual([undefined, Infinity, Infinity]);
  });

  it('stops training before a round would pass maxEpsilon, and says so', () => {
    const oneRound = epsilonOf({ q: 1, noise: 1, rounds: 1, delta: 1e-5 }).epsilon;
    const twoRounds = epsilonOf({ q: 1, noise: 1, rounds: 2, delta: 1e-5 }).epsilon;
    const { store, fed } = privateFederation({ maxEpsilon: (oneRound + twoRounds) / 2 });
    fed.acceptUpload(1, 'update-a-1x', updateFrame('client-aaaa', small(0.1)));
    fed.acceptUpload(1, 'update-b-1x', updateFrame('client-bbbb', small(0.1)));
    fed.advance();
    expect(store.history('tiny').at(-1)!.privacy!.epsilon).toBeCloseTo(oneRound, 9);
    // A second round at q = 1 would reach twice that: spent.
    expect(fed.summary().privacy?.budgetSpent).toBe(true);
    expect(fed.checkin({ clientId: 'client-aaaa', exampleCount: 5 })).toMatchObject({ status: 'wait', reason: expect.stringMatching(/privacy budget spent/) });
    expect(code(() => fed.acceptUpload(2, 'update-a-2x', updateFrame('client-aaaa', small(0.1), { baseVersion: 1 })))).toBe('privacy_budget_spent');
  });

  it('publishes the clipped sum over the fixed denominator with noise (never the plain mean)', () => {
    const { store, fed } = privateFederation({ noiseMultiplier: 0.5 });
    fed.acceptUpload(1, 'update-a-1x', updateFrame('client-aaaa', small(0.2)));
    fed.acceptUpload(1, 'update-b-1x', updateFrame('client-bbbb', small(0.2)));
    fed.advance();
    const published = store.latestVersion('tiny')!.weights;
    // The plain mean is 0.2 everywhere; the published model is 0.2 plus noise of sd 0.5·1/2 per coordinate.
    expect(published.some((w) => Math.abs(w - 0.2) > 1e-3)).toBe(true);
    expect(Math.max(...published.map((w) => Math.abs(w - 0.2)))).toBeLessThan(6 * 0.25);
  });
});

describe('the privacy block of a task file', () => {
  const base = JSON.parse(JSON.stringify({
    id: 'dp', name: 'DP', description: 'x', input: { kind: 'tabular', labelColumn: 'y', columns: [{ name: 'a', type: 'numeric', mean: 0, std: 1 }] },
    labels: ['a', 'b'], model: { builtin: 'mlp', hidden: [4] }, training: { epochs: 1, batchSize: 4, learningRate: 0.1, optimizer: 'sgd', codec: 'f32' },
    rounds: { minClients: 1, targetClients: 2, deadlineS: 60 }, strategy: 'fedavg', allowedOrigins: [],
  })) as Record<string, unknown>;
  const privacy = { mode: 'central', clipNorm: 1, noiseMultiplier: 1.1, delta: 1e-5, maxEpsilon: 8 };
  const field = (over: Record<string, unknown>) => {
    try {
      parseTaskFile({ ...base, ...over }, '/tmp');
      return 'valid';
    } catch (e) {
      return (e as { field?: string }).field;
    }
  };

  it('is read, and tells the clients the clip norm', () => {
    const task = parseTaskFile({ ...base, privacy }, '/tmp');
    expect(task.privacy).toEqual(privacy);
    expect(task.training.clipNorm).toBe(1);
  });

  it('refuses what would break the guarantee, by field', () => {
    expect(field({ privacy: { ...privacy, clipNorm: 0 } })).toBe('privacy.clipNorm');
    expect(field({ privacy: { ...privacy, delta: 0.5 } })).toBe('privacy.delta');
    expect(field({ privacy: { ...privacy, mode: 'local' } })).toBe('privacy.mode');
    expect(field({ privacy, strategy: 'median' })).toBe('strategy');
    expect(field({ privacy, training: { ...(base.training as object), codec: 'topk:0.01' } })).toBe('training.codec');
  });
});
