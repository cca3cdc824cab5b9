/**
 * Crash safety: the real coordinator process is killed with SIGKILL at exact points of a round (through
 * failpoints) and restarted on the same SQLite file; or, on PostgreSQL, one of two processes serving the
 * same federation is killed and the other carries on. Every acknowledged update must count exactly once,
 * and the model versions must be intact.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresBinDir, startCluster, type Cluster } from './postgres/cluster.ts';
import { f32 } from '../core/codecs/f32.ts';
import { encodeUpdateFrame } from '../core/update-frame.ts';
import { authHeaders, startCoordinator, type RunningCoordinator } from '../../e2e/coordinator.ts';

/** A one-layer task (4 parameters) in its own tasks folder, so the test needs no demo data. */
function tinyTasksDir(over: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'covey-crash-tasks-'));
  writeFileSync(join(dir, 'test.csv'), 'x,y\n0,0\n1,1\n');
  const task = {
    id: 'tiny',
    name: 'Tiny',
    description: 'crash test',
    input: { kind: 'tabular', labelColumn: 'y', columns: [{ name: 'x', type: 'numeric', mean: 0, std: 1 }] },
    labels: ['no', 'yes'],
    model: { builtin: 'mlp', hidden: [] },
    training: { epochs: 1, batchSize: 2, learningRate: 0.1, optimizer: 'sgd', codec: 'f32' },
    rounds: { minClients: 3, targetClients: 3, deadlineS: 3600 },
    strategy: 'fedavg',
    evaluation: { testSet: 'test.csv', format: 'csv', metrics: ['accuracy'] },
    ...over,
  };
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'tiny.json'), JSON.stringify(task));
  return dir;
}

const tasksDir = tinyTasksDir();
const start = (dataDir: string, failpoint?: string) => startCoordinator({ COVEY_TASKS_DIR: tasksDir, ...(failpoint ? { COVEY_FAILPOINT: failpoint } : {}) }, { dataDir });

async function checkin(c: RunningCoordinator, clientId: string): Promise<void> {
  const res = await fetch(`${c.url}/v1/tasks/tiny/checkin`, { method: 'POST', headers: { 'content-type': 'application/json', ...(await authHeaders(c.url, clientId, 'tiny')) }, body: JSON.stringify({ clientId, exampleCount: 10 }) });
  expect(((await res.json()) as { status: string }).status).toBe('assigned');
}

/** Client k sends delta [k, k, k, k] with 10·k examples; null when the connection died before an answer. */
async function upload(c: RunningCoordinator, k: number, round = 1): Promise<{ http: number; duplicate?: boolean } | null> {
  const frame = encodeUpdateFrame(f32, { clientId: `client-${k}000`, baseVersion: round - 1, numExamples: 10 * k, loss: 1 }, new Float32Array(4).fill(k));
  try {
    const auth = await authHeaders(c.url, `client-${k}000`, 'tiny');
    const res = await fetch(`${c.url}/v1/tasks/tiny/rounds/${round}/updates/update-${k}000`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', ...auth }, body: frame });
    return { http: res.status, duplicate: ((await res.json()) as { duplicate?: boolean }).duplicate };
  } catch {
    return null;
  }
}

async function weights(c: RunningCoordinator, version: number): Promise<number[]> {
  return [...new Float32Array(await (await fetch(`${c.url}/v1/tasks/tiny/models/${version}/weights.bin`)).arrayBuffer())];
}

async function history(c: RunningCoordinator) {
  return (await (await fetch(`${c.url}/v1/tasks/tiny/history`)).json()) as { version: number; numClients: number; numExamples: number }[];
}

/** FedAvg of deltas 1, 2, 3 with weights 10, 20, 30: (10 + 40 + 90) / 60 = 7/3 added to every weight. */
const expectedV1 = (v0: number[]) => v0.map((w) => Math.fround(w + Math.fround(140 / 60)));

describe('crash safety (SIGKILL at each step of a round)', { timeout: 60_000 }, () => {
  it('an update committed but not yet acknowledged counts once when the client retries', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'covey-crash-'));
    let c = await start(dataDir, 'update-stored');
    await checkin(c, 'client-1000');
    expect(await upload(c, 1)).toBeNull(); // killed after the commit, before the answer
    expect(await c.exited).toBe('SIGKILL');

    c = await start(dataDir);
    expect(await upload(c, 1)).toMatchObject({ http: 200, duplicate: true });
    const round = ((await (await fetch(`${c.url}/v1/tasks/tiny`)).json()) as { round: { received: number } }).round;
    expect(round.received).toBe(1);
    await c.stop();
  });

  it.each(['aggregating', 'model-writing', 'model-written'])('killed at "%s", the restarted coordinator has the round aggregated exactly once', async (point) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'covey-crash-'));
    let c = await start(dataDir);
    const v0 = await weights(c, 0);
    for (const k of [1, 2]) {
      await checkin(c, `client-${k}000`);
      expect(await upload(c, k)).toMatchObject({ http: 200, duplicate: false });
    }
    await c.kill(); // a crash between uploads loses nothing acknowledged
    c = await start(dataDir, point);
    await checkin(c, 'client-3000');
    await upload(c, 3); // the third update reaches the target: the round aggregates, and the process dies
    expect(await c.exited).toBe('SIGKILL');

    c = await start(dataDir);
    await expect.poll(async () => (await history(c)).length).toBe(2);
    expect((await history(c)).map((h) => [h.version, h.numClients, h.numExamples])).toEqual([[0, 0, 0], [1, 3, 60]]);
    expect(await weights(c, 0)).toEqual(v0);
    expect(await weights(c, 1)).toEqual(expectedV1(v0));
    // A client that never heard back retries: recognised, not counted again.
    expect(await upload(c, 3)).toMatchObject({ http: 200, duplicate: true });
    expect((await history(c)).at(-1)).toMatchObject({ version: 1, numClients: 3 });
    await c.stop();
  });

  it('a server optimizer\'s momentum is written with the version it produced, and survives a kill right after', async () => {
    const dir = tinyTasksDir({ serverOptimizer: { name: 'fedavgm', lr: 1, beta1: 0.9 }, rounds: { minClients: 1, targetClients: 1, deadlineS: 3600 } });
    const dataDir = mkdtempSync(join(tmpdir(), 'covey-crash-'));
    let c = await startCoordinator({ COVEY_TASKS_DIR: dir, COVEY_FAILPOINT: 'model-written' }, { dataDir });
    const v0 = await weights(c, 0);
    await upload(c, 1, 1); // accepted; round 1 then aggregates (m1 = Δ1 = 1) and the process dies, before or after the answer
    expect(await c.exited).toBe('SIGKILL');

    c = await startCoordinator({ COVEY_TASKS_DIR: dir }, { dataDir });
    expect(await upload(c, 2, 2)).toMatchObject({ http: 200 });
    await expect.poll(async () => (await history(c)).length).toBe(3);
    // m2 = 0.9·m1 + Δ2 = 2.9: v2 = v1 + 2.9 = v0 + 3.9 (a lost momentum would give v0 + 3).
    expect(await weights(c, 1)).toEqual(v0.map((w) => Math.fround(w + 1)));
    (await weights(c, 2)).forEach((w, i) => expect(w).toBeCloseTo(v0[i]! + 3.9, 5));
    await c.stop();
  });

  it.each(['update-stored', 'aggregating', 'model-writing', 'model-written'])('buffered: killed at "%s", every acknowledged update (stale ones at their weight) counts exactly once', async (point) => {
    const dir = tinyTasksDir({ rounds: { mode: 'buffered', bufferSize: 2, maxStaleness: 3 } });
    const dataDir = mkdtempSync(join(tmpdir(), 'covey-crash-'));
    const send = async (c: RunningCoordinator, k: number, baseVersion: number, value: number): Promise<{ http: number; duplicate?: boolean; staleness?: number } | null> => {
      const clientId = `client-${k}000`;
      const frame = encodeUpdateFrame(f32, { clientId, baseVersion, numExamples: 10, loss: 1 }, new Float32Array(4).fill(value));
      try {
        const res = await fetch(`${c.url}/v1/tasks/tiny/rounds/1/updates/update-${k}000`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', ...(await authHeaders(c.url, clientId, 'tiny')) }, body: frame });
        return { http: res.status, ...((await res.json()) as { duplicate?: boolean; staleness?: number }) };
      } catch {
        return null;
      }
    };
    let c = await startCoordinator({ COVEY_TASKS_DIR: dir }, { dataDir });
    const v0 = await weights(c, 0);
    await send(c, 1, 0, 1);
    await send(c, 2, 0, 2); // v1 = v0 + 1.5
    await expect.poll(async () => (await history(c)).length).toBe(2);
    // Trained on v0 and delivered late, to the URL of buffer 1: it joins buffer 2 one version stale.
    expect(await send(c, 3, 0, 4)).toMatchObject({ http: 200, duplicate: false, staleness: 1 });
    await c.kill();
    c = await startCoordinator({ COVEY_TASKS_DIR: dir, COVEY_FAILPOINT: point }, { dataDir });
    // The buffer's second update: stored, then the process dies (before the answer, or after it as the buffer aggregates).
    const answer = await send(c, 4, 1, 2);
    if (point === 'update-stored') expect(answer).toBeNull();
    expect(await c.exited).toBe('SIGKILL');

    c = await startCoordinator({ COVEY_TASKS_DIR: dir }, { dataDir });
    // The client never heard back and retries: recognised, and counted once (before or after the restart's aggregation).
    expect(await send(c, 4, 1, 2)).toMatchObject({ http: 200, duplicate: true });
    await expect.poll(async () => (await history(c)).length).toBe(3);
    expect((await history(c)).map((h) => [h.version, h.numClients, h.numExamples])).toEqual([[0, 0, 0], [1, 2, 20], [2, 2, 20]]);
    // v2 = v1 + (10 · 4/√2 + 10 · 2) / 20 = v0 + 1.5 + √2 + 1
    (await weights(c, 2)).forEach((w, i) => expect(w).toBeCloseTo(v0[i]! + 2.5 + Math.SQRT2, 5));
    await c.stop();
  });
});

describe.skipIf(!postgresBinDir() && !process.env.CI)('two coordinator processes on one PostgreSQL: either may die', { timeout: 90_000 }, () => {
  let cluster: Cluster;
  let schemas = 0;
  beforeAll(async () => {
    cluster = await startCluster({ durable: false });
  }, 120_000);
  afterAll(() => cluster?.stop());
  /** A process of the federation in the test's own schema; no token secret given: the processes share the database's. */
  const startOn = (schema: string, failpoint?: string) => startCoordinator({ COVEY_TASKS_DIR: tasksDir, COVEY_DATABASE_URL: cluster.url, COVEY_DATABASE_SCHEMA: schema, ...(failpoint ? { COVEY_FAILPOINT: failpoint } : {}) });

  it.each(['update-stored', 'aggregating', 'model-writing', 'model-written'])('one killed at "%s": the other closes the round exactly once, and takes the retry as a repeat', async (point) => {
    const schema = `crash_${++schemas}`;
    const [a, b] = await Promise.all([startOn(schema, point), startOn(schema)]);
    try {
      const v0 = await weights(b, 0);
      expect(await weights(a, 0)).toEqual(v0);
      // Clients 1 and 2 report to B; client 3 checks in at A and uploads to A, which dies.
      for (const k of [1, 2]) {
        await checkin(b, `client-${k}000`);
        expect(await upload(b, k)).toMatchObject({ http: 200, duplicate: false });
      }
      await checkin(a, 'client-3000');
      const answer = await upload(a, 3); // the round's third update: A stores it, claims the round, and dies at the failpoint
      if (point === 'update-stored') expect(answer).toBeNull();
      expect(await a.exited).toBe('SIGKILL');

      // B finishes the round: the update A stored, the claim A left, or the version A wrote.
      await expect.poll(async () => (await history(b)).length, { timeout: 20_000 }).toBe(2);
      expect((await history(b)).map((h) => [h.version, h.numClients, h.numExamples])).toEqual([[0, 0, 0], [1, 3, 60]]);
      expect(await weights(b, 1)).toEqual(expectedV1(v0));
      // The client that never heard back retries at B: recognised, not counted again.
      expect(await upload(b, 3)).toMatchObject({ http: 200, duplicate: true });
      // And B carries on: round 2 takes updates trained on v1.
      await checkin(b, 'client-4000');
      expect(await upload(b, 4, 2)).toMatchObject({ http: 200, duplicate: false });
      expect((await history(b)).at(-1)).toMatchObject({ version: 1, numClients: 3 });
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  it('a token from one process is good at the other; a lost database connection fails the requests in flight, the next ones reconnect, and nothing is counted twice', async () => {
    const schema = `crash_${++schemas}`;
    const [a, b] = await Promise.all([startOn(schema), startOn(schema)]);
    try {
      // A token one process issued is honoured by the other: they share the signing secret through the database.
      const token = await authHeaders(a.url, 'client-9000', 'tiny');
      const elsewhere = await fetch(`${b.url}/v1/tasks/tiny/checkin`, { method: 'POST', headers: { 'content-type': 'application/json', ...token }, body: JSON.stringify({ clientId: 'client-9000', exampleCount: 10 }) });
      expect(((await elsewhere.json()) as { status: string }).status).toBe('assigned');
      await checkin(a, 'client-1000');
      expect(await upload(a, 1)).toMatchObject({ http: 200, duplicate: false });
      // Every coordinator connection is cut, as a database restart or a network fault would.
      expect(Number(cluster.sql(`SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name LIKE 'covey-coordinator-%'`))).toBeGreaterThanOrEqual(2);
      // The first call on each process finds its connection gone; retries get through on a new one.
      const retry = async (c: RunningCoordinator, k: number) => {
        for (let i = 0; i < 5; i++) {
          const r = await upload(c, k);
          if (r?.http === 200) return r;
        }
        return null;
      };
      await expect.poll(async () => (await fetch(`${a.url}/v1/tasks/tiny`)).status).toBe(200);
      await expect.poll(async () => (await fetch(`${b.url}/v1/tasks/tiny`)).status).toBe(200);
      expect(await retry(a, 1)).toMatchObject({ http: 200, duplicate: true });
      await checkin(b, 'client-2000');
      expect(await retry(b, 2)).toMatchObject({ http: 200, duplicate: false });
      await checkin(b, 'client-3000');
      expect(await retry(b, 3)).toMatchObject({ http: 200, duplicate: false });
      await expect.poll(async () => (await history(a)).map((h) => [h.version, h.numClients, h.numExamples]), { timeout: 20_000 }).toEqual([[0, 0, 0], [1, 3, 60]]);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});
