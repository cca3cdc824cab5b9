import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from './sqlite-store.ts';
import { StoreConflict, type CloseRound, type CoordinatorStore, type NewUpdate } from './store.ts';
import { storeBackends } from './test-stores.ts';
import type { PgStore } from './postgres/pg-store.ts';

const backends = storeBackends();
const ROUND = { baseVersion: 0, state: 'open', minClients: 1, targetClients: 3, openedAt: 0, deadlineAt: 60_000, closedAt: null, outcome: null } as const;

function update(clientId: string, updateId = `update-${clientId}`, value = 1): NewUpdate {
  return { taskId: 't', roundId: 1, updateId, clientId, baseVersion: 0, numExamples: 10, loss: 0.5, backend: 'cpu', bytes: 16, bodySha256: 'ab', delta: new Float32Array(4).fill(value) };
}

const close = (from: CloseRound['from'], result: CloseRound['result'] = null): CloseRound => ({ taskId: 't', roundId: 1, now: 5, from, result, next: { ...ROUND, baseVersion: result ? 1 : 0 } });

function conflict(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof StoreConflict) return e.reason;
    throw e;
  }
  throw new Error('expected a StoreConflict');
}

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), 'covey-store-'));
  dirs.push(dir);
  return join(dir, 'covey.sqlite');
}

describe('CoordinatorStore', () => {
  it('moves a version-2 database to version 3, keeping its evaluations, so a diverged model can be recorded', () => {
    const path = tempDb();
    // The evaluations table as version 2 made it: loss and accuracy NOT NULL.
    const old = new Database(path);
    old.exec(`
      CREATE TABLE model_versions (task_id TEXT NOT NULL, version INTEGER NOT NULL, round_id INTEGER, weights BLOB NOT NULL,
        num_clients INTEGER NOT NULL DEFAULT 0, num_examples INTEGER NOT NULL DEFAULT 0, client_loss REAL,
        created_at INTEGER NOT NULL, PRIMARY KEY (task_id, version));
      CREATE TABLE evaluations (task_id TEXT NOT NULL, version INTEGER NOT NULL, accuracy REAL NOT NULL, loss REAL NOT NULL,
        evaluated_at INTEGER NOT NULL, metrics TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (task_id, version));`);
    old.prepare('INSERT INTO model_versions (task_id, version, weights, created_at) VALUES (?, ?, ?, ?)').run('digits', 0, Buffer.alloc(8), 0);
    old.prepare('INSERT INTO model_versions (task_id, version, weights, created_at) VALUES (?, ?, ?, ?)').run('digits', 1, Buffer.alloc(8), 1);
    old.prepare('INSERT INTO evaluations VALUES (?, ?, ?, ?, ?, ?)').run('digits', 0, 0.146, 2.3, 5, '{"accuracy":0.146}');
    old.pragma('user_version = 2');
    old.close();

    const store = new SqliteStore(path);
    expect(store.history('digits')[0]).toMatchObject({ version: 0, accuracy: 0.146, loss: 2.3, metrics: { accuracy: 0.146 } });
    store.recordEvaluation('digits', 1, null, null, {}, 6);
    expect(store.history('digits')[1]).toMatchObject({ version: 1, accuracy: null, loss: null });
    expect(store.unevaluatedVersions('digits')).toEqual([]);
    store.close();

    const reopened = new Database(path, { readonly: true });
    expect(reopened.pragma('user_version', { simple: true })).toBe(10);
    reopened.close();
  });

  it('keeps a task\'s lineage across restarts; a fresh database makes a new one', () => {
    const path = tempDb();
    const first = new SqliteStore(path);
    const lineage = first.lineage('digits');
    expect(lineage).toMatch(/^[\w-]{12}$/);
    first.close();
    const again = new SqliteStore(path);
    expect(again.lineage('digits')).toBe(lineage);
    again.close();
    const fresh = new SqliteStore(tempDb());
    expect(fresh.lineage('digits')).not.toBe(lineage);
    fresh.close();
  });
});

describe.each(backends)('the store contract on $name', (backend) => {
  function initialised(name?: string): CoordinatorStore {
    const store = backend.open(name);
    store.initialiseTask('t', new Float32Array(4), ROUND);
    return store;
  }

  it('stores an update only into a round that takes updates, once per client and id', () => {
    const store = initialised();
    store.insertUpdate(update('client-a'), 1);
    expect(conflict(() => store.insertUpdate(update('client-a', 'update-other'), 2))).toBe('client_already_reported');
    expect(store.setRoundState('t', 1, 'open', 'aggregating')).toBe(true);
    expect(conflict(() => store.insertUpdate(update('client-b'), 3))).toBe('round_closed');
    expect(store.countUpdates('t', 1)).toBe(1);
  });

  it('changes a round\'s state and closes it only from the state the caller saw', () => {
    const store = initialised();
    store.insertUpdate(update('client-a'), 1);
    expect(store.setRoundState('t', 1, 'training', 'open')).toBe(false);
    expect(store.closeRound(close('training'))).toBe(false);
    expect(store.currentRound('t')).toMatchObject({ roundId: 1, state: 'open' });
    expect(store.claimAggregation('t', 1, 'open')).toBe(true);
    const result = { version: 1, weights: new Float32Array(4).fill(2), numClients: 1, numExamples: 10, clientLoss: 0.5 };
    expect(store.closeRound(close('aggregating', result))).toBe(true);
    // A second closer (a process that saw the round aggregating too) writes nothing.
    expect(store.closeRound(close('aggregating', { ...result, version: 2 }))).toBe(false);
    expect(store.history('t').map((h) => h.version)).toEqual([0, 1]);
    expect(store.currentRound('t')).toMatchObject({ roundId: 2, state: 'open', baseVersion: 1 });
    expect(store.head('t')).toMatchObject({ version: 1, round: { roundId: 2 }, assigned: 0, received: 0, paused: false });
  });
});

describe.each(backends)('the dashboard\'s rounds on $name', (backend) => {
  it('counts assignments, reports, carried updates, bytes, training times, norms and backends by round', () => {
    const store = backend.open();
    store.initialiseTask('t', new Float32Array(4), ROUND);
    store.assign('t', 1, 'client-a', 1);
    store.assign('t', 1, 'client-b', 1);
    store.insertUpdate({ ...update('client-a'), bytes: 100, trainMs: 30, norm: 2, backend: 'webgl' }, 2);
    // Round 1 fails; its update goes on into round 2 (same model), where client-c reports too.
    expect(store.closeRound({ ...close('open'), carryUpdates: true })).toBe(true);
    store.assign('t', 2, 'client-c', 3);
    store.insertUpdate({ ...update('client-c'), roundId: 2, bytes: 50, trainMs: 10, norm: 1, backend: null }, 4);
    const [r2, r1] = store.roundActivity('t', 10);
    expect(r1).toMatchObject({ roundId: 1, state: 'closed', outcome: 'failed', assigned: 2, reported: 0, answered: 1, carried: 0, versionClients: null, bytesUp: 0 });
    expect(r2).toMatchObject({ roundId: 2, state: 'open', assigned: 1, reported: 2, carried: 1, answered: 1, bytesUp: 150, trainMs: [10, 30], norms: [1, 2], backends: { webgl: 1, unknown: 1 } });
  });
});

describe.each(backends.filter((b) => b.name === 'PostgreSQL'))('two processes on one $name store', (backend) => {
  let n = 0;
  const pair = () => {
    const name = `pair${++n}`;
    const a = backend.open(name);
    a.initialiseTask('t', new Float32Array(4), ROUND);
    const b = backend.open(name);
    b.initialiseTask('t', new Float32Array(4).fill(9), ROUND); // the second to start finds version 0 made
    return { a, b };
  };

  it('share one version 0, one lineage and the secrets', () => {
    const { a, b } = pair();
    expect([...b.latestVersion('t')!.weights]).toEqual([0, 0, 0, 0]);
    expect(b.lineage('t')).toBe(a.lineage('t'));
    const secret = (a as PgStore).sharedSecret('token-secret', () => 'first');
    expect((b as PgStore).sharedSecret('token-secret', () => 'second')).toBe(secret);
    expect(secret).toBe('first');
  });

  it('refuse the same update id or client twice, whichever process stored it first', () => {
    const { a, b } = pair();
    a.insertUpdate(update('client-a'), 1);
    expect(conflict(() => b.insertUpdate(update('client-a'), 2))).toBe('update_id_reused');
    expect(conflict(() => b.insertUpdate(update('client-a', 'update-second'), 2))).toBe('client_already_reported');
    expect(b.countUpdates('t', 1)).toBe(1);
  });

  it('let one process claim a round: the other cannot claim it, store into it or take it over until the claimant is gone', () => {
    const { a, b } = pair();
    a.insertUpdate(update('client-a'), 1);
    expect(a.claimAggregation('t', 1, 'open')).toBe(true);
    expect(b.claimAggregation('t', 1, 'open')).toBe(false);
    expect(conflict(() => b.insertUpdate(update('client-b'), 2))).toBe('round_closed');
    expect(b.takeOverAggregation('t', 1)).toBe(false); // a holds the task's lock
    a.close(); // its connection, and the lock, end (as when its process dies)
    expect(b.takeOverAggregation('t', 1)).toBe(true);
    expect([...b.iterateUpdates('t', 1)].map((u) => u.clientId)).toEqual(['client-a']);
    expect(b.closeRound(close('aggregating', { version: 1, weights: new Float32Array(4).fill(1), numClients: 1, numExamples: 10, clientLoss: 0.5 }))).toBe(true);
    // The lock is let go with the close: the next round's claim is free for anyone.
    const c = backend.open(`pair${n}`);
    expect(c.claimAggregation('t', 2, 'open')).toBe(true);
  });

  it('see each other\'s writes at once: assignments, updates, pause, versions', () => {
    const { a, b } = pair();
    a.assign('t', 1, 'client-a', 1);
    a.insertUpdate(update('client-a'), 2);
    a.setPaused('t', true, 3);
    expect(b.head('t')).toMatchObject({ version: 0, assigned: 1, received: 1, paused: true });
    expect(a.claimAggregation('t', 1, 'open')).toBe(true);
    expect(a.closeRound(close('aggregating', { version: 1, weights: new Float32Array(4).fill(1), numClients: 1, numExamples: 10, clientLoss: 0.5 }))).toBe(true);
    expect(b.head('t')).toMatchObject({ version: 1, round: { roundId: 2 }, assigned: 0, received: 0 });
    expect([...b.modelVector('t', 1)!]).toEqual([1, 1, 1, 1]);
  });
});
