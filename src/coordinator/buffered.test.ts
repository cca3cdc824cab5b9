/** Buffered asynchronous aggregation (FedBuff) and what synchronous rounds now keep: the Federation against hand computations. */
import { beforeEach, describe, expect, it } from 'vitest';
import { ApiFailure } from './api-failure.ts';
import { Federation } from './federation.ts';
import { storeBackends, type StoreBackend } from './test-stores.ts';
import type { BufferPolicy } from './task.ts';
import { TINY_PARAMS, tinyTask, updateFrame } from './test-fixtures.ts';

const init = new Float32Array(TINY_PARAMS).fill(1);
const ones = (x: number) => new Array<number>(TINY_PARAMS).fill(x);
const checkin = (fed: Federation, clientId: string) => fed.checkin({ clientId, exampleCount: 10 });

const backends = storeBackends();
let open: StoreBackend['open'];
let restarts = 0;

function buffered(over: Partial<BufferPolicy> = {}, opts: { now?: () => number; path?: string } = {}) {
  const store = open(opts.path);
  const buffer: BufferPolicy = { size: 2, maxStaleness: 3, staleness: { kind: 'polynomial', exponent: 0.5 }, concurrency: 8, ...over };
  const task = tinyTask({ rounds: { minClients: buffer.size, targetClients: buffer.size, deadlineMs: 60_000, leaseMs: 60_000, buffer } });
  const versions: (number | null)[] = [];
  const fed = new Federation(task, init, store, { onRoundClosed: (_t, _r, v) => versions.push(v) }, opts.now ?? (() => 0));
  return { store, fed, versions };
}

function refusal(fn: () => unknown): { status: number; code: string } {
  try {
    fn();
  } catch (e) {
    if (e instanceof ApiFailure) return { status: e.status, code: e.code };
    throw e;
  }
  throw new Error('expected a refusal');
}

/** Two fresh updates make v1: (10·1 + 30·3) / 40 = 2.5 added to every weight. */
function publishV1(fed: Federation) {
  fed.acceptUpload(1, 'update-a001', updateFrame('client-aaaa', ones(1), { numExamples: 10 }));
  fed.acceptUpload(1, 'update-b001', updateFrame('client-bbbb', ones(3), { numExamples: 30 }));
  fed.advance();
}

describe.each(backends)('buffered aggregation ($name)', (backend) => {
  beforeEach(() => {
    open = backend.open;
  });

  it('publishes a version every K updates and scales a stale delta by 1/√(1+τ), as computed by hand', () => {
    const { store, fed, versions } = buffered();
    publishV1(fed);
    expect(versions).toEqual([1]);
    expect(store.latestVersion('tiny')!.weights[0]).toBeCloseTo(3.5, 6);
    // Buffer 2: an update trained on v0 (τ = 1, s = 1/√2) with delta 4, and a fresh one on v1 with delta 2, 10 examples each.
    const stale = fed.acceptUpload(1, 'update-c001', updateFrame('client-cccc', ones(4), { numExamples: 10, baseVersion: 0 }));
    expect(stale).toMatchObject({ duplicate: false, roundId: 2, received: 1, staleness: 1 });
    expect(stale.weight).toBeCloseTo(Math.SQRT1_2, 12);
    expect(fed.acceptUpload(2, 'update-d001', updateFrame('client-dddd', ones(2), { numExamples: 10, baseVersion: 1 }))).toMatchObject({ staleness: 0, weight: 1 });
    fed.advance();
    expect(versions).toEqual([1, 2]);
    // (10 · 4/√2 + 10 · 2) / 20 = √2 + 1
    expect(store.latestVersion('tiny')!.weights[0]).toBeCloseTo(3.5 + Math.SQRT2 + 1, 5);
    const v2 = store.history('tiny').find((h) => h.version === 2)!;
    expect(v2.staleness).toEqual({ mean: 0.5, max: 1, meanWeight: expect.closeTo((1 + Math.SQRT1_2) / 2, 12) as number });
    expect(store.history('tiny').find((h) => h.version === 1)!.staleness).toEqual({ mean: 0, max: 0, meanWeight: 1 });
  });

  it('refuses an update more than maxStaleness versions old, and one from a version that does not exist, changing nothing', () => {
    const { store, fed } = buffered({ size: 1, maxStaleness: 1 });
    fed.acceptUpload(1, 'update-a001', updateFrame('client-aaaa', ones(1)));
    fed.advance();
    fed.acceptUpload(2, 'update-b001', updateFrame('client-bbbb', ones(1), { baseVersion: 1 }));
    fed.advance();
    expect(fed.modelVersion).toBe(2);
    expect(refusal(() => fed.acceptUpload(1, 'update-c001', updateFrame('client-cccc', ones(1), { baseVersion: 0 })))).toEqual({ status: 409, code: 'too_stale' });
    expect(refusal(() => fed.acceptUpload(3, 'update-d001', updateFrame('client-dddd', ones(1), { baseVersion: 7 })))).toEqual({ status: 409, code: 'stale_model' });
    expect(store.countUpdates('tiny', 3)).toBe(0);
    // τ = 1 is still taken.
    expect(fed.acceptUpload(3, 'update-e001', updateFrame('client-eeee', ones(1), { baseVersion: 1 }))).toMatchObject({ staleness: 1 });
  });

  it('lets clients check in at any time, up to its concurrency, and gives each the current model', () => {
    let now = 0;
    const { fed } = buffered({ concurrency: 2 }, { now: () => now });
    expect(checkin(fed, 'client-aaaa')).toMatchObject({ status: 'assigned', roundId: 1, modelVersion: 0 });
    expect(checkin(fed, 'client-bbbb')).toMatchObject({ status: 'assigned' });
    expect(checkin(fed, 'client-cccc')).toMatchObject({ status: 'wait', reason: '2 clients are training already' });
    fed.acceptUpload(1, 'update-a001', updateFrame('client-aaaa', ones(1)));
    // The slot a reported client held is free; the client itself waits for the next version.
    expect(checkin(fed, 'client-aaaa')).toMatchObject({ status: 'wait', reason: expect.stringContaining('already contributed to the buffer that makes version 1') });
    expect(checkin(fed, 'client-cccc')).toMatchObject({ status: 'assigned', modelVersion: 0 });
    fed.acceptUpload(1, 'update-b001', updateFrame('client-bbbb', ones(1)));
    fed.advance();
    // c trains on: its slot carries into the next buffer, where its update (τ = 1) lands.
    expect(checkin(fed, 'client-aaaa')).toMatchObject({ status: 'assigned', roundId: 2, modelVersion: 1 });
    expect(checkin(fed, 'client-dddd')).toMatchObject({ status: 'wait' });
    expect(fed.acceptUpload(1, 'update-c001', updateFrame('client-cccc', ones(1)))).toMatchObject({ roundId: 2, staleness: 1 });
    // A slot whose client stays silent frees when its lease lapses.
    now = 60_000;
    expect(checkin(fed, 'client-dddd')).toMatchObject({ status: 'assigned' });
  });

  it('recognises the retry of an update it filed under a later buffer than its URL named', () => {
    const { fed } = buffered();
    publishV1(fed);
    const frame = updateFrame('client-cccc', ones(4), { baseVersion: 0 });
    expect(fed.acceptUpload(1, 'update-c001', frame)).toMatchObject({ duplicate: false, roundId: 2 });
    expect(fed.acceptUpload(1, 'update-c001', frame)).toMatchObject({ duplicate: true, roundId: 2, received: 1 });
    expect(refusal(() => fed.acceptUpload(1, 'update-c001', updateFrame('client-cccc', ones(5), { baseVersion: 0 })))).toEqual({ status: 409, code: 'update_id_reused' });
  });

  it('replays a buffer after a restart with each update\'s staleness, to the same model', () => {
    const path = `restart${++restarts}`;
    const first = buffered({}, { path });
    publishV1(first.fed);
    first.fed.acceptUpload(1, 'update-c001', updateFrame('client-cccc', ones(4), { numExamples: 10, baseVersion: 0 }));
    first.fed.stop();
    first.store.close();
    // A new process on the same file: the acknowledged stale update is still in the buffer, at weight 1/√2.
    const second = buffered({}, { path });
    expect(second.fed.summary().round).toMatchObject({ id: 2, received: 1, buffered: { size: 2, maxStaleness: 3 } });
    second.fed.acceptUpload(2, 'update-d001', updateFrame('client-dddd', ones(2), { numExamples: 10, baseVersion: 1 }));
    second.fed.advance();
    expect(second.store.latestVersion('tiny')!.weights[0]).toBeCloseTo(3.5 + Math.SQRT2 + 1, 5);
    second.fed.stop();
    second.store.close();
  });
});

describe.each(backends)('buffered aggregation against squatting and stalls ($name)', (backend) => {
  beforeEach(() => {
    open = backend.open;
  });

  it('never stalls: a client whose lease lapsed without an update is assigned again three leases later', () => {
    let now = 0;
    const { fed } = buffered({ concurrency: 2 }, { now: () => now }); // lease 60 s
    expect(checkin(fed, 'client-aaaa')).toMatchObject({ status: 'assigned' });
    expect(checkin(fed, 'client-bbbb')).toMatchObject({ status: 'assigned' });
    // Both tabs closed mid-training: their slots free when their leases lapse, and they rest for three leases.
    now = 60_001;
    expect(checkin(fed, 'client-aaaa')).toMatchObject({ status: 'wait', reason: expect.stringContaining('lapsed without an update') });
    expect(checkin(fed, 'client-cccc')).toMatchObject({ status: 'assigned' });
    now = 4 * 60_000 + 1;
    expect(checkin(fed, 'client-aaaa')).toMatchObject({ status: 'assigned', roundId: 1 });
  });

  it('does not let the same silent ids hold the slots while other uploads close buffers', () => {
    let now = 0;
    const { fed } = buffered({ size: 1, concurrency: 2 }, { now: () => now });
    let honest = 0;
    for (let lease = 0; lease < 10; lease++) {
      now = lease * 60_001;
      for (const id of ['squatter-1', 'squatter-2']) checkin(fed, id);
      // Someone's offline update closes a buffer meanwhile.
      fed.acceptUpload(1, `update-x${lease}`, updateFrame(`offline-${lease}`, ones(0.01), { baseVersion: fed.modelVersion }));
      fed.advance();
      if (checkin(fed, `honest-${lease}`).status === 'assigned') honest += 1;
    }
    expect(honest).toBeGreaterThanOrEqual(5);
  });

  it('counts a client\'s own lease, carried from the buffer before, as its own slot', () => {
    const { fed } = buffered({ size: 1, concurrency: 1 });
    expect(checkin(fed, 'client-aaaa')).toMatchObject({ status: 'assigned' });
    fed.acceptUpload(1, 'update-b001', updateFrame('client-bbbb', ones(1)));
    fed.advance();
    expect(fed.modelVersion).toBe(1);
    // Still training from buffer 1, it reloads: it gets a place again, not "1 clients are training already".
    expect(checkin(fed, 'client-aaaa')).toMatchObject({ status: 'assigned', roundId: 2, modelVersion: 1 });
  });

  it('frees the training slot of a client whose update was too stale', () => {
    const { fed } = buffered({ size: 1, maxStaleness: 0, concurrency: 1 });
    checkin(fed, 'client-aaaa');
    fed.acceptUpload(1, 'update-b001', updateFrame('client-bbbb', ones(1)));
    fed.advance();
    expect(checkin(fed, 'client-cccc')).toMatchObject({ status: 'wait' });
    expect(refusal(() => fed.acceptUpload(1, 'update-a001', updateFrame('client-aaaa', ones(1), { baseVersion: 0 })))).toEqual({ status: 409, code: 'too_stale' });
    expect(checkin(fed, 'client-cccc')).toMatchObject({ status: 'assigned' });
  });

  it('rebuilds the leases carried across buffers after a restart', () => {
    const path = `restart${++restarts}`;
    const first = buffered({ size: 1, concurrency: 1 }, { path });
    checkin(first.fed, 'client-aaaa'); // assigned in buffer 1, still training
    first.fed.acceptUpload(1, 'update-b001', updateFrame('client-bbbb', ones(1)));
    first.fed.advance();
    first.fed.stop();
    first.store.close();
    const second = buffered({ size: 1, concurrency: 1 }, { path });
    expect(checkin(second.fed, 'client-cccc')).toMatchObject({ status: 'wait', reason: '1 clients are training already' });
    second.store.close();
  });

  it('paces buffered waits by the time between versions', () => {
    let now = 0;
    const { fed } = buffered({ size: 1, concurrency: 1 }, { now: () => now });
    for (let v = 0; v < 3; v++) {
      now = v * 20_000;
      fed.acceptUpload(1, `update-v${v}`, updateFrame(`client-${v}000`, ones(0.01), { baseVersion: fed.modelVersion }));
      fed.advance();
    }
    // Versions every 20 s, one update each; 4 clients seen: T = 4 / (1 / 20 s) = 80 s, drawn within ±50 %.
    checkin(fed, 'client-busy');
    const answer = checkin(fed, 'client-late');
    expect(answer.status).toBe('wait');
    expect(answer.status === 'wait' && answer.retryAfterMs).toBeGreaterThanOrEqual(50_000);
    expect(answer.status === 'wait' && answer.retryAfterMs).toBeLessThanOrEqual(150_000);
  });
});

describe.each(backends)('synchronous rounds keep offline work ($name)', (backend) => {
  beforeEach(() => {
    open = backend.open;
  });

  function sync(now: () => number) {
    const store = open();
    const closed: (number | null)[] = [];
    const fed = new Federation(tinyTask({ rounds: { minClients: 2, targetClients: 2, deadlineMs: 60_000 } }), init, store, { onRoundClosed: (_t, _r, v) => closed.push(v) }, now);
    return { store, fed, closed };
  }

  it('opens and fails no rounds while nobody comes, and starts the deadline at the first client', () => {
    let now = 0;
    const { store, fed, closed } = sync(() => now);
    for (now = 0; now <= 3600_000; now += 30_000) fed.advance();
    expect(closed).toEqual([]);
    expect(store.currentRound('tiny')!.roundId).toBe(1);
    now = 3600_000;
    checkin(fed, 'client-aaaa');
    expect(fed.summary().round!.deadline).toBe(new Date(3600_000 + 60_000).toISOString());
    // The client came but did not report by the deadline: now the round fails.
    now = 3660_000;
    fed.advance();
    expect(closed).toEqual([null]);
  });

  it('carries the updates of a round that failed into the next one when it trains the same model', () => {
    let now = 0;
    const { store, fed, closed } = sync(() => now);
    checkin(fed, 'client-aaaa');
    fed.acceptUpload(1, 'update-a001', updateFrame('client-aaaa', ones(1)));
    now = 60_000;
    fed.advance();
    expect(closed).toEqual([null]); // 1 of min 2 by the deadline
    expect(fed.summary().round).toMatchObject({ id: 2, received: 1 });
    expect(fed.acceptUpload(1, 'update-a001', updateFrame('client-aaaa', ones(1)))).toMatchObject({ duplicate: true, roundId: 2 });
    expect(checkin(fed, 'client-aaaa')).toMatchObject({ status: 'wait', reason: 'already contributed to round 2' });
    fed.acceptUpload(2, 'update-b001', updateFrame('client-bbbb', ones(3)));
    fed.advance();
    expect(closed).toEqual([null, 1]);
    expect(store.latestVersion('tiny')!.weights[0]).toBeCloseTo(3, 6); // 1 + (1 + 3) / 2
  });

  it('does not spread a population that fits in one round: a client that reported comes back within seconds', () => {
    const { fed } = sync(() => 0); // target 2: 3 places
    checkin(fed, 'client-aaaa');
    fed.acceptUpload(1, 'update-a001', updateFrame('client-aaaa', ones(1)));
    const answer = checkin(fed, 'client-aaaa');
    expect(answer).toMatchObject({ status: 'wait', reason: 'already contributed to round 1' });
    expect(answer.status === 'wait' && answer.retryAfterMs).toBe(2_000);
  });

  it('opens and fails no secure rounds while nobody comes', () => {
    let now = 0;
    const store = open();
    const closed: (number | null)[] = [];
    const task = tinyTask({ rounds: { minClients: 2, targetClients: 3, deadlineMs: 60_000 }, secureAggregation: { threshold: 0.6, neighbours: null, curve: 'auto', clipNorm: 1, phaseMs: 10_000 } });
    // A secure round lives in one process's memory: a store several processes share refuses the task, naming why.
    if (store.shared) return void expect(() => new Federation(task, init, store)).toThrow(/aggregates securely.*one coordinator/);
    const fed = new Federation(task, init, store, { onRoundClosed: (_t, _r, v) => closed.push(v) }, () => now);
    for (now = 0; now <= 600_000; now += 30_000) fed.advance();
    expect(closed).toEqual([]);
    fed.stop();
  });

  it('takes an update trained for a failed round into the next one, which trains the same model', () => {
    let now = 0;
    const { store, fed, closed } = sync(() => now);
    checkin(fed, 'client-aaaa');
    now = 60_000;
    fed.advance();
    expect(closed).toEqual([null]); // round 1 failed; round 2 trains v0 too
    // Trained offline for round 1, delivered now.
    expect(fed.acceptUpload(1, 'update-a001', updateFrame('client-aaaa', ones(1)))).toMatchObject({ duplicate: false, roundId: 2, received: 1 });
    expect(store.countUpdates('tiny', 2)).toBe(1);
    fed.acceptUpload(2, 'update-b001', updateFrame('client-bbbb', ones(3)));
    fed.advance();
    expect(closed).toEqual([null, 1]);
    // Once the model moved on, an update for an old round is refused as before.
    expect(refusal(() => fed.acceptUpload(1, 'update-c001', updateFrame('client-cccc', ones(1))))).toEqual({ status: 409, code: 'round_closed' });
  });
});
