import { beforeEach, describe, expect, it } from 'vitest';
import type { StoreBackend } from './test-stores.ts';
import { ApiFailure } from './api-failure.ts';
import { Federation } from './federation.ts';
import { storeBackends } from './test-stores.ts';
import { serverOptimizerConfig } from '../core/server-optimizer.ts';
import { TINY_PARAMS, tinyTask, updateFrame } from './test-fixtures.ts';

const init = new Float32Array(TINY_PARAMS).fill(1);
const ones = (x: number) => new Array<number>(TINY_PARAMS).fill(x);

const backends = storeBackends();
let open: StoreBackend['open'];
let restarts = 0;

function setup(now = () => 0, name?: string) {
  const store = open(name);
  const closed: (number | null)[] = [];
  const fed = new Federation(tinyTask(), init, store, { onRoundClosed: (_t, _r, v) => closed.push(v) }, now);
  return { store, fed, closed };
}

function refusal(fn: () => unknown): { status: number; code: string; field?: string } {
  try {
    fn();
  } catch (e) {
    if (e instanceof ApiFailure) return { status: e.status, code: e.code, field: e.field };
    throw e;
  }
  throw new Error('expected a refusal');
}

const checkin = (fed: Federation, clientId: string) => fed.checkin({ clientId, exampleCount: 10 });

describe.each(backends)('Federation on $name', (backend) => {
  beforeEach(() => {
    open = backend.open;
  });

  it('assigns clients, aggregates a FedAvg round at its target and opens the next', () => {
    const { store, fed, closed } = setup();
    expect(checkin(fed, 'client-aaaa')).toMatchObject({ status: 'assigned', roundId: 1, modelVersion: 0 });
    checkin(fed, 'client-bbbb');
    fed.acceptUpload(1, 'update-0001', updateFrame('client-aaaa', ones(1), { numExamples: 10 }));
    expect(fed.summary().round).toMatchObject({ id: 1, received: 1, assigned: 2 });
    fed.acceptUpload(1, 'update-0002', updateFrame('client-bbbb', ones(4), { numExamples: 30 }));
    fed.advance();
    expect(closed).toEqual([1]);
    // 1 + (10·1 + 30·4) / 40 = 4.25
    expect([...store.latestVersion('tiny')!.weights]).toEqual(ones(4.25));
    expect(fed.summary()).toMatchObject({ modelVersion: 1, round: { id: 2, state: 'open', baseVersion: 1, received: 0 } });
    expect(store.history('tiny').map((h) => [h.version, h.numClients, h.numExamples])).toEqual([[0, 0, 0], [1, 2, 40]]);
  });

  it('tells a client that already reported to wait, and repeats the assignment to one that has not', () => {
    const { fed } = setup();
    const first = checkin(fed, 'client-aaaa');
    expect(checkin(fed, 'client-aaaa')).toEqual(first);
    fed.acceptUpload(1, 'update-0001', updateFrame('client-aaaa', ones(0)));
    expect(checkin(fed, 'client-aaaa')).toMatchObject({ status: 'wait', reason: /already contributed/ });
  });

  it('reports each accepted update\'s norm (not a repeat\'s), for the operator\'s metrics', () => {
    const norms: number[] = [];
    const fed = new Federation(tinyTask(), init, open(), { onUpdateAccepted: (_t, u) => norms.push(u.norm) }, () => 0);
    checkin(fed, 'client-aaaa');
    const frame = updateFrame('client-aaaa', ones(2));
    fed.acceptUpload(1, 'update-0001', frame);
    fed.acceptUpload(1, 'update-0001', frame);
    expect(norms).toEqual([Math.sqrt(TINY_PARAMS * 4)]);
  });

  it('never publishes a model whose aggregate overflows: the round fails and the model stays', () => {
    const { store, fed, closed } = setup();
    // Every delta is finite (near float32's largest value); the second round's model would not be.
    for (const round of [1, 2]) {
      for (const client of ['client-aaaa', 'client-bbbb']) {
        checkin(fed, client);
        fed.acceptUpload(round, `update-${round}-${client}`, updateFrame(client, ones(3e38), { numExamples: 10, baseVersion: round - 1 }));
      }
      fed.advance();
    }
    expect(closed).toEqual([1, null]);
    const v1 = store.latestVersion('tiny')!;
    expect(v1.version).toBe(1);
    expect(v1.weights.every(Number.isFinite)).toBe(true);
    expect(fed.summary()).toMatchObject({ modelVersion: 1, round: { id: 3, baseVersion: 1, received: 0 } });
  });

  it('does not acknowledge one client\'s update to another presenting the same id and bytes', () => {
    const { fed } = setup();
    checkin(fed, 'client-aaaa');
    const frame = updateFrame('client-aaaa', ones(1));
    fed.acceptUpload(1, 'update-0001', frame, 'client-aaaa');
    expect(refusal(() => fed.acceptUpload(1, 'update-0001', frame, 'client-bbbb'))).toMatchObject({ status: 409, code: 'update_id_reused' });
    expect(fed.acceptUpload(1, 'update-0001', frame, 'client-aaaa')).toMatchObject({ duplicate: true });
  });

  it('refuses an update trained from another lineage\'s model (the coordinator was started afresh)', () => {
    const { fed } = setup();
    checkin(fed, 'client-aaaa');
    expect(refusal(() => fed.acceptUpload(1, 'update-0001', updateFrame('client-aaaa', ones(1), { lineage: 'earlier' })))).toMatchObject({ status: 409, code: 'other_lineage', field: 'meta.lineage' });
    expect(fed.summary().round!.received).toBe(0);
    expect(fed.acceptUpload(1, 'update-0002', updateFrame('client-aaaa', ones(1), { lineage: fed.lineage }))).toMatchObject({ duplicate: false });
  });

  it('counts a repeated upload id once and answers it as accepted', () => {
    const { fed } = setup();
    checkin(fed, 'client-aaaa');
    const frame = updateFrame('client-aaaa', ones(1));
    expect(fed.acceptUpload(1, 'update-0001', frame)).toMatchObject({ duplicate: false, received: 1 });
    expect(fed.acceptUpload(1, 'update-0001', frame)).toMatchObject({ duplicate: true, received: 1 });
    expect(fed.summary().round!.received).toBe(1);
    // The same id with other bytes is not a retry.
    checkin(fed, 'client-bbbb');
    expect(refusal(() => fed.acceptUpload(1, 'update-0001', updateFrame('client-bbbb', ones(1))))).toMatchObject({ status: 409, code: 'update_id_reused' });
  });

  it.each([
    ['wrong length', () => updateFrame('client-aaaa', [1, 2, 3]), 400, 'invalid_frame'],
    ['NaN', () => updateFrame('client-aaaa', [NaN, ...ones(0).slice(1)]), 400, 'non_finite'],
    ['Infinity', () => updateFrame('client-aaaa', [...ones(0).slice(1), Infinity]), 400, 'non_finite'],
    ['garbage', () => new Uint8Array(40), 400, 'invalid_frame'],
    ['stale base version', () => updateFrame('client-aaaa', ones(0), { baseVersion: 7 }), 409, 'stale_model'],
    ['bad metadata', () => updateFrame('client-aaaa', ones(0), { numExamples: -3 }), 400, 'invalid_meta'],
  ])('refuses an update with %s and changes nothing', (_name, frame, status, code) => {
    const { fed, store } = setup();
    checkin(fed, 'client-aaaa');
    expect(refusal(() => fed.acceptUpload(1, 'update-0001', frame()))).toMatchObject({ status, code });
    expect(fed.summary().round!.received).toBe(0);
    expect(store.countUpdates('tiny', 1)).toBe(0);
    expect([...store.latestVersion('tiny')!.weights]).toEqual([...init]);
  });

  it('takes an upload from a client that trained offline as its check-in', () => {
    const { fed } = setup();
    expect(fed.acceptUpload(1, 'update-0001', updateFrame('client-offline', ones(1)))).toMatchObject({ duplicate: false, received: 1 });
    expect(fed.summary().round).toMatchObject({ assigned: 1, received: 1 });
  });

  it('never keeps an honest client out of a round for clients that check in and stay silent', () => {
    let now = 0;
    const { fed, closed } = setup(() => now); // target 2: 3 places; deadline 60 s: leases of 15 s
    for (const id of ['fake-client-1', 'fake-client-2', 'fake-client-3']) expect(checkin(fed, id)).toMatchObject({ status: 'assigned' });
    expect(checkin(fed, 'honest-client-1')).toMatchObject({ status: 'wait', reason: 'round 1 is full' });
    expect(fed.summary().round).toMatchObject({ state: 'training', assigned: 3 });
    // An honest update is counted whether or not its client holds a place.
    expect(fed.acceptUpload(1, 'update-0001', updateFrame('honest-client-1', ones(1)))).toMatchObject({ received: 1 });
    // Told when to come back by pace steering: 5 clients seen, 3 places per lease of 15 s → 25 s ± half.
    const full = checkin(fed, 'honest-client-2');
    expect(full).toMatchObject({ status: 'wait' });
    expect(full.status === 'wait' && full.retryAfterMs).toBeGreaterThanOrEqual(12_500);
    expect(full.status === 'wait' && full.retryAfterMs).toBeLessThanOrEqual(37_500);
    // The silent clients' leases lapse: their places go to others, and they do not get them back this round.
    now = 15_000;
    expect(checkin(fed, 'honest-client-2')).toMatchObject({ status: 'assigned', roundId: 1 });
    expect(fed.summary().round).toMatchObject({ state: 'open', assigned: 5 });
    expect(checkin(fed, 'fake-client-1')).toMatchObject({ status: 'wait', reason: expect.stringContaining('lapsed') });
    // A reload within the lease gets its assignment again.
    expect(checkin(fed, 'honest-client-2')).toMatchObject({ status: 'assigned', roundId: 1 });
    fed.acceptUpload(1, 'update-0002', updateFrame('honest-client-2', ones(3)));
    fed.advance();
    expect(closed).toEqual([1]);
  });

  it('does not give the same silent clients places again in the next rounds', () => {
    let now = 0;
    const { fed } = setup(() => now); // target 2, min 1: 3 places; deadline 60 s: leases of 15 s
    for (const id of ['fake-client-1', 'fake-client-2', 'fake-client-3']) checkin(fed, id);
    now = 15_000; // lapsed
    checkin(fed, 'honest-client-1');
    fed.acceptUpload(1, 'update-0001', updateFrame('honest-client-1', ones(1)));
    now = 60_000; // the deadline: round 1 aggregates the one update, round 2 opens
    fed.advance();
    expect(fed.summary().round).toMatchObject({ id: 2 });
    for (const id of ['fake-client-1', 'fake-client-2', 'fake-client-3']) expect(checkin(fed, id)).toMatchObject({ status: 'wait', reason: expect.stringContaining('lapsed') });
    expect(checkin(fed, 'honest-client-1')).toMatchObject({ status: 'assigned', roundId: 2 });
    expect(checkin(fed, 'honest-client-2')).toMatchObject({ status: 'assigned', roundId: 2 });
  });

  it('keeps silent clients\' places across a restart until their leases lapse', () => {
    let now = 0;
    const path = `restart${++restarts}`;
    const first = setup(() => now, path);
    for (const id of ['fake-client-1', 'fake-client-2', 'fake-client-3']) checkin(first.fed, id);
    now = 10_000;
    const second = setup(() => now, path);
    expect(checkin(second.fed, 'honest-client-1')).toMatchObject({ status: 'wait', reason: 'round 1 is full' });
    now = 15_000;
    expect(checkin(second.fed, 'honest-client-1')).toMatchObject({ status: 'assigned' });
  });

  it('weights an update by at most the task\'s maxExamplesPerClient, whatever the client claims', () => {
    const store = open();
    const fed = new Federation(tinyTask({ maxExamplesPerClient: 20 }), init, store);
    fed.acceptUpload(1, 'update-0001', updateFrame('client-aaaa', ones(1), { numExamples: 10 }));
    fed.acceptUpload(1, 'update-0002', updateFrame('client-bbbb', ones(4), { numExamples: 10_000_000 }));
    fed.advance();
    // (10·1 + 20·4) / 30 = 3; unclamped, the claimed 10,000,000 would make it ≈ 4.
    expect([...store.latestVersion('tiny')!.weights]).toEqual(ones(4));
    expect(store.history('tiny')[1]).toMatchObject({ numExamples: 30 });
  });

  it('refuses an update over the task\'s norm bound, and clips when the task says so', () => {
    const store = open();
    const fed = new Federation(tinyTask({ maxUpdateNorm: 10, clipNorm: 1, rounds: { minClients: 1, targetClients: 1, deadlineMs: 60_000 } }), init, store);
    const big = new Array<number>(TINY_PARAMS).fill(0);
    big[0] = 11;
    expect(refusal(() => fed.acceptUpload(1, 'update-0001', updateFrame('client-aaaa', big)))).toMatchObject({ status: 400, code: 'norm_too_large' });
    big[0] = 4; // within the bound, clipped to norm 1
    fed.acceptUpload(1, 'update-0002', updateFrame('client-aaaa', big));
    fed.advance();
    expect(store.latestVersion('tiny')!.weights[0]).toBe(2);
  });

  it('refuses unknown rounds, closed rounds, a second update from one client, and malformed ids', () => {
    const { fed } = setup();
    checkin(fed, 'client-aaaa');
    expect(refusal(() => fed.acceptUpload(9, 'update-0001', updateFrame('client-aaaa', ones(0))))).toMatchObject({ status: 404, code: 'unknown_round' });
    expect(refusal(() => fed.acceptUpload(1, 'bad id!', updateFrame('client-aaaa', ones(0))))).toMatchObject({ status: 400, field: 'updateId' });
    fed.acceptUpload(1, 'update-0001', updateFrame('client-aaaa', ones(0)));
    expect(refusal(() => fed.acceptUpload(1, 'update-0002', updateFrame('client-aaaa', ones(0))))).toMatchObject({ status: 409, code: 'client_already_reported' });
    checkin(fed, 'client-bbbb');
    fed.acceptUpload(1, 'update-0003', updateFrame('client-bbbb', ones(0)));
    fed.advance();
    expect(refusal(() => fed.acceptUpload(1, 'update-0004', updateFrame('client-bbbb', ones(0))))).toMatchObject({ status: 409, code: 'round_closed' });
  });

  it('at the deadline aggregates what it has if that is enough, else fails the round and keeps the model', () => {
    let now = 0;
    const { fed, closed, store } = setup(() => now);
    checkin(fed, 'client-aaaa');
    now = 60_000;
    fed.advance();
    expect(closed).toEqual([null]);
    expect(store.round('tiny', 1)).toMatchObject({ state: 'closed', outcome: 'failed' });
    expect(fed.modelVersion).toBe(0);
    checkin(fed, 'client-aaaa');
    fed.acceptUpload(2, 'update-0001', updateFrame('client-aaaa', ones(2)));
    now = 120_000;
    fed.advance();
    expect(closed).toEqual([null, 1]);
    expect([...store.latestVersion('tiny')!.weights]).toEqual(ones(3));
  });

  it('continues the round after a restart with every accepted update, counted once', () => {
    const path = `restart${++restarts}`;
    const first = setup(() => 0, path);
    checkin(first.fed, 'client-aaaa');
    checkin(first.fed, 'client-bbbb');
    first.fed.acceptUpload(1, 'update-0001', updateFrame('client-aaaa', ones(2), { numExamples: 10 }));
    // No close(): as if the process died here.
    const second = setup(() => 0, path);
    expect(second.fed.summary().round).toMatchObject({ id: 1, received: 1, assigned: 2 });
    expect(second.fed.acceptUpload(1, 'update-0001', updateFrame('client-aaaa', ones(2)))).toMatchObject({ duplicate: true });
    second.fed.acceptUpload(1, 'update-0002', updateFrame('client-bbbb', ones(4), { numExamples: 10 }));
    second.fed.advance();
    expect([...second.store.latestVersion('tiny')!.weights]).toEqual(ones(4));
    const third = setup(() => 0, path);
    expect(third.fed.summary()).toMatchObject({ modelVersion: 1, round: { id: 2, received: 0 } });
  });

  it('steps the model with the task\'s server optimizer, whose momentum survives a restart with the version it produced', () => {
    const path = `restart${++restarts}`;
    const task = tinyTask({ serverOptimizer: serverOptimizerConfig('fedavgm', { lr: 1, beta1: 0.9 }), rounds: { minClients: 1, targetClients: 1, deadlineMs: 60_000 } });
    const first = new Federation(task, init, open(path));
    first.acceptUpload(1, 'update-0001', updateFrame('client-aaaa', ones(2)));
    first.advance(); // m1 = Δ1 = 2, x1 = 1 + 2 = 3
    // No close(): as if the process died here. The momentum is read back with version 1.
    const store = open(path);
    const second = new Federation(task, init, store);
    second.acceptUpload(2, 'update-0002', updateFrame('client-aaaa', ones(1), { baseVersion: 1 }));
    second.advance(); // m2 = 0.9·2 + 1 = 2.8, x2 = 3 + 2.8 = 5.8 (without the restored momentum it would be 4)
    store.latestVersion('tiny')!.weights.forEach((w) => expect(w).toBeCloseTo(5.8, 5));
  });

  it('aggregates the clients\' federated evaluations of each version, weighted by their held-out counts', () => {
    const { fed, store } = setup();
    fed.acceptUpload(1, 'update-0001', updateFrame('client-aaaa', ones(1), { eval: { accuracy: 0.5, loss: 1, count: 10, personalAccuracy: 0.9 } }));
    fed.acceptUpload(1, 'update-0002', updateFrame('client-bbbb', ones(1), { eval: { accuracy: 1, loss: 0.5, count: 30 } }));
    fed.advance();
    const [v0, v1] = store.history('tiny');
    // (0.5·10 + 1·30) / 40 = 0.875; (1·10 + 0.5·30) / 40 = 0.625. They judge version 0, the model the clients received.
    // Personal accuracy over the clients that report one: 0.9 on client a's 10.
    expect(v0!.federated).toEqual({ accuracy: 0.875, loss: 0.625, examples: 40, clients: 2, personalAccuracy: 0.9 });
    expect(v1!.federated).toBeNull();
  });
});

describe.each(backends.filter((b) => b.name === 'PostgreSQL'))('two Federations on one $name store (two processes)', (backend) => {
  /** Past the 20 ms a process may go without re-reading the others' writes. */
  const settle = () => new Promise((r) => setTimeout(r, 30));

  it('takes updates at both, closes the round exactly once, and both follow the new version', async () => {
    const name = `two${++restarts}`;
    const closed: string[] = [];
    const storeA = backend.open(name);
    const a = new Federation(tinyTask(), init, storeA, { onRoundClosed: (_t, r, v) => closed.push(`a: round ${r} → v${v}`) }, () => 0);
    const b = new Federation(tinyTask(), init, backend.open(name), { onRoundClosed: (_t, r, v) => closed.push(`b: round ${r} → v${v}`) }, () => 0);
    expect(b.lineage).toBe(a.lineage);
    checkin(a, 'client-aaaa');
    await settle();
    expect(checkin(b, 'client-aaaa')).toMatchObject({ status: 'assigned', roundId: 1 }); // the same place, whichever process answers
    checkin(b, 'client-bbbb');
    a.acceptUpload(1, 'update-0001', updateFrame('client-aaaa', ones(1), { numExamples: 10 }));
    b.acceptUpload(1, 'update-0002', updateFrame('client-bbbb', ones(4), { numExamples: 30 }));
    // The same update again, at the other process: a repeat, not a second update.
    expect(a.acceptUpload(1, 'update-0002', updateFrame('client-bbbb', ones(4), { numExamples: 30 }))).toMatchObject({ duplicate: true });
    await settle();
    a.advance();
    b.advance();
    expect(closed).toEqual(['a: round 1 → v1']); // a saw the target first; b found the round claimed, then closed
    await settle();
    b.advance();
    expect(closed).toEqual(['a: round 1 → v1']);
    // 1 + (10·1 + 30·4) / 40 = 4.25, from a's own update and b's, read back from the store.
    expect([...storeA.latestVersion('tiny')!.weights]).toEqual(ones(4.25));
    expect(storeA.history('tiny').map((h) => [h.version, h.numClients, h.numExamples])).toEqual([[0, 0, 0], [1, 2, 40]]);
    for (const f of [a, b]) expect(f.summary()).toMatchObject({ modelVersion: 1, round: { id: 2, received: 0 } });
    expect(b.knowsVersion(1)).toBe(true);
    a.stop();
    b.stop();
  });

  it('refuses an update for a round another process closed (its model moved on), and takes one for the round it opened at once', () => {
    const name = `two${++restarts}`;
    const a = new Federation(tinyTask(), init, backend.open(name), {}, () => 0);
    const b = new Federation(tinyTask(), init, backend.open(name), {}, () => 0);
    checkin(a, 'client-aaaa');
    a.acceptUpload(1, 'update-0001', updateFrame('client-aaaa', ones(1)));
    // b may still see round 1 open: the store refuses the update into it all the same.
    a.acceptUpload(1, 'update-0002', updateFrame('client-bbbb', ones(2)));
    a.advance();
    expect(a.summary()).toMatchObject({ modelVersion: 1, round: { id: 2 } });
    expect(refusal(() => b.acceptUpload(1, 'update-0003', updateFrame('client-cccc', ones(3))))).toMatchObject({ status: 409, code: 'round_closed' });
    b.acceptUpload(2, 'update-0004', updateFrame('client-cccc', ones(3), { baseVersion: 1 }));
    expect(b.summary().round).toMatchObject({ id: 2, received: 1 });
    a.stop();
    b.stop();
  });
});
