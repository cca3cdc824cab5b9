import { describe, expect, it } from 'vitest';
import { epsilonOf } from '../core/privacy/rdp.ts';
import { ApiFailure } from './api-failure.ts';
import { Federation } from './federation.ts';
import { SqliteStore } from './sqlite-store.ts';
import { parseTaskFile } from './task-file.ts';
import { TINY_PARAMS, tinyTask, updateFrame } from './test-fixtures.ts';
import { f32 } from '../core/codecs/f32.ts';
import { encodeUpdateFrame } from '../core/update-frame.ts';
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

function privateFederation(privacy: Partial<PrivacyPolicy> = {}, maxUpdateNorm?: number) {
  const store = new SqliteStore(':memory:');
  const policy: PrivacyPolicy = { mode: 'central', clipNorm: 1, noiseMultiplier: 1, delta: 1e-5, ...privacy };
  const fed = new Federation(tinyTask({ privacy: policy, rounds: { minClients: 2, targetClients: 2, deadlineMs: 60_000 }, ...(maxUpdateNorm === undefined ? {} : { maxUpdateNorm }) }), new Float32Array(TINY_PARAMS), store, {}, () => 0);
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
    const store = new SqliteStore(':memory:');
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

  it('reads local mode, and tells the clients to noise their own updates', () => {
    const task = parseTaskFile({ ...base, privacy: { ...privacy, mode: 'local' } }, '/tmp');
    expect(task.training).toMatchObject({ clipNorm: 1, localNoise: 1.1 });
    expect(task.training.reportClip).toBeUndefined();
  });

  it('reads adaptive clipping with the paper\'s defaults, and tells the clients to report the clip bit', () => {
    const task = parseTaskFile({ ...base, rounds: { minClients: 1, targetClients: 100, deadlineS: 60 }, privacy: { ...privacy, adaptiveClipping: true } }, '/tmp');
    expect(task.privacy!.adaptiveClipping).toEqual({ targetQuantile: 0.5, learningRate: 0.2, countNoise: 5 });
    expect(task.training).toMatchObject({ clipNorm: 1, reportClip: true });
  });

  it('refuses what would break the guarantee, by field', () => {
    expect(field({ privacy: { ...privacy, clipNorm: 0 } })).toBe('privacy.clipNorm');
    expect(field({ privacy: { ...privacy, delta: 0.5 } })).toBe('privacy.delta');
    expect(field({ privacy: { ...privacy, mode: 'nearby' } })).toBe('privacy.mode');
    expect(field({ privacy: { ...privacy, mode: 'local', adaptiveClipping: true } })).toBe('privacy.adaptiveClipping');
    // Two clients a round: σ_b defaults to 2/20, and 2σ_b = 0.2 leaves no noise for the update at z = 1.1.
    expect(field({ privacy: { ...privacy, adaptiveClipping: true } })).toBe('privacy.adaptiveClipping.countNoise');
    expect(field({ privacy: { ...privacy, adaptiveClipping: { targetQuantile: 1.5, countNoise: 5 } } })).toBe('privacy.adaptiveClipping.targetQuantile');
    expect(field({ privacy, strategy: 'median' })).toBe('strategy');
    expect(field({ privacy, training: { ...(base.training as object), codec: 'topk:0.01' } })).toBe('training.codec');
  });
});

describe('what a private task keeps and publishes', () => {
  it('a plain task still requires the example count and the loss', () => {
    const store = new SqliteStore(':memory:');
    const fed = new Federation(tinyTask(), new Float32Array(TINY_PARAMS), store, {}, () => 0);
    expect(code(() => fed.acceptUpload(1, 'update-nometa-1', encodeUpdateFrame(f32, { clientId: 'client-aaaa', baseVersion: 0 }, new Float32Array(TINY_PARAMS))))).toBe('invalid_meta');
  });

  it('stores no loss or evaluation of one person and publishes no un-noised round figure, whatever a client sends', () => {
    const store = new SqliteStore(':memory:');
    const norms: number[] = [];
    const policy: PrivacyPolicy = { mode: 'central', clipNorm: 1, noiseMultiplier: 1, delta: 1e-5 };
    const fed = new Federation(tinyTask({ privacy: policy, rounds: { minClients: 2, targetClients: 2, deadlineMs: 60_000 } }), new Float32Array(TINY_PARAMS), store, { onUpdateAccepted: (_t, u) => norms.push(u.norm) }, () => 0);
    const evaluation = { eval: { accuracy: 0.9, loss: 0.3, count: 20 } };
    fed.acceptUpload(1, 'update-a-1x', updateFrame('client-aaaa', small(0.1), evaluation));
    fed.acceptUpload(1, 'update-b-1x', updateFrame('client-bbbb', small(0.1), evaluation));
    fed.advance();
    const v1 = store.history('tiny')[1]!;
    expect(v1).toMatchObject({ clientLoss: null, federated: null, numExamples: 2 });
    expect(norms).toEqual([]); // /metrics's update-norm histogram sees none of them
  });

  it('tells its clients the round\'s privacy configuration when they check in', () => {
    const { fed } = privateFederation();
    expect(fed.checkin({ clientId: 'client-aaaa', exampleCount: 5 })).toMatchObject({ status: 'assigned', config: { clipNorm: 1 } });
  });
});

describe('local differential privacy in rounds', () => {
  // The task also has a plain norm bound (as tasks/digits.json does): the privacy bound replaces it.
  const local = (noiseMultiplier = 1) => privateFederation({ mode: 'local', noiseMultiplier }, 2);

  it('accepts an update noised on the device, refuses one past what the noise can explain, and adds no noise itself', () => {
    const { store, fed } = local();
    // A clipped update (norm ≤ 1) plus N(0, 1) per coordinate has norm about √15 ≈ 3.9: accepted.
    const noisy = Float32Array.from(small(0.2), (v, i) => v + (i % 2 ? 1 : -1));
    expect(code(() => fed.acceptUpload(1, 'update-a-1x', updateFrame('client-aaaa', noisy)))).toBe('accepted');
    // Bound: S + z·S·(√d + 10) = 1 + √15 + 10 ≈ 14.9.
    expect(code(() => fed.acceptUpload(1, 'update-x-1x', updateFrame('client-xxxx', small(4))))).toBe('norm_over_clip');
    fed.acceptUpload(1, 'update-b-1x', updateFrame('client-bbbb', Float32Array.from(noisy, (v) => -v + 0.6)));
    fed.advance();
    // The plain mean with equal weights, nothing added: (v + (0.6 − v)) / 2 = 0.3.
    for (const w of store.latestVersion('tiny')!.weights) expect(w).toBeCloseTo(0.3, 5);
  });

  it('accounts each round as the person\'s own Gaussian mechanism: no sampling, sensitivity 2S', () => {
    const { store, fed } = local(2);
    for (const id of ['client-cccc', 'client-dddd', 'client-eeee']) fed.checkin({ clientId: id, exampleCount: 5 });
    for (const round of [1, 2]) {
      fed.acceptUpload(round, `update-a-${round}x`, updateFrame('client-aaaa', small(0.1), { baseVersion: round - 1 }));
      fed.acceptUpload(round, `update-b-${round}x`, updateFrame('client-bbbb', small(0.1), { baseVersion: round - 1 }));
      fed.advance();
    }
    const p = store.history('tiny')[2]!.privacy!;
    expect(p).toMatchObject({ mode: 'local', samplingRate: 1, rounds: 2 });
    // z = 2 at sensitivity 2S is z = 1 at S; composed over two rounds, with the closed form α/(2σ²) per round.
    expect(p.epsilon).toBeCloseTo(epsilonOf({ q: 1, noise: 1, rounds: 2, delta: 1e-5 }).epsilon, 9);
    expect(fed.summary().privacy).toMatchObject({ mode: 'local', epsilon: p.epsilon });
  });
});

describe('adaptive clipping in rounds', () => {
  // z = 0 and σ_b = 0 make the steps exact (the noise is checked in core/privacy/adaptive-clip.test.ts).
  const adaptive = (store = new SqliteStore(':memory:')) => ({
    store,
    fed: new Federation(tinyTask({ privacy: { mode: 'central', clipNorm: 1, noiseMultiplier: 0, delta: 1e-5, adaptiveClipping: { targetQuantile: 0.5, learningRate: 0.2, countNoise: 0 } }, rounds: { minClients: 2, targetClients: 2, deadlineMs: 60_000 } }), new Float32Array(TINY_PARAMS), store, {}, () => 0),
  });

  it('moves the clip norm by the clients\' bits, tells the next round, and refuses by the new bound', () => {
    const { store, fed } = adaptive();
    expect(fed.checkin({ clientId: 'client-aaaa', exampleCount: 5 })).toMatchObject({ config: { clipNorm: 1, reportClip: true } });
    fed.acceptUpload(1, 'update-a-1x', updateFrame('client-aaaa', small(0.1), { withinClip: true }));
    fed.acceptUpload(1, 'update-b-1x', updateFrame('client-bbbb', small(0.1), { withinClip: true }));
    fed.advance();
    // Both within: b̄ = 1, C ← 1 · exp(−0.2 · (1 − 0.5)).
    const next = Math.exp(-0.1);
    expect(store.history('tiny')[1]!.privacy).toMatchObject({ clipNorm: 1, nextClipNorm: expect.closeTo(next, 12) });
    expect(fed.summary().privacy!.clipNorm).toBeCloseTo(next, 12);
    expect(fed.checkin({ clientId: 'client-cccc', exampleCount: 5 })).toMatchObject({ config: { clipNorm: expect.closeTo(next, 12) } });
    const norm095 = small(0.95 / Math.sqrt(TINY_PARAMS));
    expect(code(() => fed.acceptUpload(2, 'update-c-2x', updateFrame('client-cccc', norm095, { baseVersion: 1 })))).toBe('norm_over_clip');
  });

  it('keeps a round\'s bits across a restart', () => {
    const { store, fed } = adaptive();
    fed.acceptUpload(1, 'update-a-1x', updateFrame('client-aaaa', small(0.1), { withinClip: false }));
    const { fed: restarted } = adaptive(store);
    restarted.acceptUpload(1, 'update-b-1x', updateFrame('client-bbbb', small(0.1), { withinClip: false }));
    restarted.advance();
    // Neither within: b̄ = 0, C ← exp(0.1).
    expect(store.history('tiny')[1]!.privacy!.nextClipNorm).toBeCloseTo(Math.exp(0.1), 12);
    void fed;
  });
});
