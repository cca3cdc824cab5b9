/**
 * Secure aggregation through the coordinator's HTTP API: five clients, one drops after sending its masked
 * input and one before sharing its keys; the new model is the old one plus the mean of the survivors'
 * updates, to the quantization step; the round's routes refuse what is out of phase or not theirs; below the
 * minimum the round aborts and the model stays; the database holds no update.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { authHeaders } from '../../e2e/coordinator.ts';
import { parseCheckinResponse } from '../core/protocol.ts';
import { SecAggClient } from '../core/secagg/client.ts';
import { parseInbox, parseRoster, type SecAggParams } from '../core/secagg/protocol.ts';
import type { Coordinator } from './coordinator.ts';
import { startTestCoordinator, TINY_PARAMS, tinyTask } from './test-fixtures.ts';

let running: Coordinator | undefined;
let dir: string | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

const task = (minClients: number) =>
  tinyTask({ rounds: { minClients, targetClients: 5, deadlineMs: 2_000 }, secureAggregation: { threshold: 0.6, neighbours: null, curve: 'P-256', clipNorm: 1, phaseMs: 1_000 }, training: { ...tinyTask().training, codec: 'f32' } });
const update = (k: number) => Float32Array.from({ length: TINY_PARAMS }, (_, i) => ((k + 1) * (i % 3 === 0 ? 1 : -1)) / 100);

interface Person {
  id: string;
  auth: Record<string, string>;
  client: SecAggClient;
  roundId: number;
}

async function start(minClients: number) {
  dir = mkdtempSync(join(tmpdir(), 'covey-secagg-'));
  const { coordinator, base } = await startTestCoordinator(task(minClients), { dbPath: join(dir, 'covey.db') });
  running = coordinator;
  const call = async (p: Person, method: string, path: string, body?: unknown) => {
    const binary = body instanceof Uint32Array;
    const res = await fetch(`${base}/v1/tasks/tiny/rounds/${p.roundId}/secagg/${path}`, {
      method,
      headers: { ...p.auth, ...(body === undefined ? {} : { 'content-type': binary ? 'application/octet-stream' : 'application/json' }) },
      ...(body === undefined ? {} : { body: binary ? new Uint8Array(body.slice().buffer) : JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  /** Polls a step until the phase before it has closed. */
  const when = async (p: Person, path: string) => {
    for (let i = 0; i < 100; i++) {
      const r = await call(p, 'GET', path);
      if (r.status === 200) return r.body;
      expect(r).toMatchObject({ status: 202, body: { pending: true } });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`${path} never opened`);
  };
  const join_ = async (k: number): Promise<Person> => {
    const id = `client-secagg-${k}`;
    const auth = await authHeaders(base, id, 'tiny');
    const res = await fetch(`${base}/v1/tasks/tiny/checkin`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ clientId: id, exampleCount: 10 }) });
    const answer = parseCheckinResponse(await res.json());
    if (answer.status !== 'assigned' || !answer.secureAggregation) throw new Error(`not assigned a secure round: ${JSON.stringify(answer)}`);
    return { id, auth, client: new SecAggClient(answer.secureAggregation, id), roundId: answer.roundId };
  };
  return { base, call, when, join: join_, coordinator };
}

describe('secure aggregation over HTTP', () => {
  it('completes with dropouts, and the model moves by exactly the survivors\' mean', async () => {
    const { base, call, when, join: enter, coordinator } = await start(3);
    const people = await Promise.all([0, 1, 2, 3, 4].map(enter));
    const params: SecAggParams = (people[0]!.client as unknown as { params: SecAggParams }).params;
    for (const p of people) expect((await call(p, 'POST', 'keys', await p.client.keys())).status).toBe(200);
    // Person 4 closes the tab before sharing its keys; the others share.
    for (const p of people.slice(0, 4)) {
      const roster = parseRoster(await when(p, 'roster'));
      expect((await call(p, 'POST', 'shares', await p.client.shares(roster))).status).toBe(200);
    }
    // All 5 keys were in, so the shares phase waits for 4 of 5 until its deadline (1 s).
    const before = new Float32Array(await (await fetch(`${base}/v1/tasks/tiny/models/0/weights.bin`)).arrayBuffer());
    for (const [k, p] of people.slice(0, 4).entries()) {
      const inbox = parseInbox(await when(p, 'inbox'));
      expect(inbox.senders).toHaveLength(4);
      const masked = await p.client.maskedInput(inbox, update(k));
      expect((await call(p, 'PUT', 'masked', masked)).status).toBe(200);
    }
    // Person 3 closes the tab after sending its masked input: it counts, its seed comes from the others' shares.
    for (const p of people.slice(0, 3)) {
      const survivors = (await when(p, 'survivors')) as unknown as string[];
      expect(survivors).toHaveLength(4);
      expect((await call(p, 'POST', 'unmask', p.client.unmask(survivors))).status).toBe(200);
    }
    await expect.poll(async () => (await (await fetch(`${base}/v1/tasks/tiny`)).json() as { modelVersion: number }).modelVersion, { timeout: 10_000 }).toBe(1);
    const after = new Float32Array(await (await fetch(`${base}/v1/tasks/tiny/models/1/weights.bin`)).arrayBuffer());
    const mean = Array.from({ length: TINY_PARAMS }, (_, i) => [0, 1, 2, 3].reduce((s, k) => s + update(k)[i]!, 0) / 4);
    for (let i = 0; i < TINY_PARAMS; i++) expect(Math.abs(after[i]! - before[i]! - mean[i]!)).toBeLessThan(4 / params.scale + 1e-6);
    const history = coordinator.store.history('tiny');
    expect(history[1]).toMatchObject({ numClients: 4, clientLoss: null, federated: null });
    // No update in the clear anywhere in the database: no row in updates, and no quantized update's bytes in the file.
    expect(coordinator.store.countUpdates('tiny', people[0]!.roundId)).toBe(0);
    for (const file of ['covey.db', 'covey.db-wal'].map((f) => join(dir!, f)).filter(existsSync)) {
      const bytes = readFileSync(file);
      for (const k of [0, 1, 2, 3]) expect(bytes.indexOf(Buffer.from(update(k).buffer))).toBe(-1);
    }
  });

  it('refuses a plain upload, a message out of phase, a replay and another client\'s message', async () => {
    const { call, join: enter, base } = await start(3);
    const [a, b] = await Promise.all([0, 1].map(enter));
    const upload = await fetch(`${base}/v1/tasks/tiny/rounds/${a!.roundId}/updates/update-secagg-1`, { method: 'PUT', headers: { ...a!.auth, 'content-type': 'application/octet-stream' }, body: Buffer.alloc(64) });
    expect(upload.status).toBeGreaterThanOrEqual(400);
    const keys = await a!.client.keys();
    expect((await call(a!, 'POST', 'keys', keys)).status).toBe(200);
    expect((await call(a!, 'POST', 'keys', keys)).body.error).toMatchObject({ code: 'secagg_repeated' });
    expect((await call(b!, 'POST', 'keys', keys)).body.error).toMatchObject({ code: 'token_mismatch' });
    expect(await call(a!, 'GET', 'roster')).toMatchObject({ status: 202, body: { pending: true, phase: 'keys' } });
    expect((await call(a!, 'POST', 'shares', { clientId: a!.id, boxes: [] })).body.error).toMatchObject({ code: 'secagg_wrong_phase' });
    expect((await call(a!, 'POST', 'keys', { clientId: a!.id, encryptionKey: 'not base64!', maskKey: 'x' })).status).toBe(400);
    expect((await call(a!, 'PUT', 'masked', new Uint32Array(3))).body.error).toMatchObject({ code: 'invalid_frame' });
  });

  it('aborts below the minimum and keeps the model', async () => {
    const { call, when, join: enter, base } = await start(3);
    const people = await Promise.all([0, 1, 2].map(enter));
    for (const p of people) await call(p, 'POST', 'keys', await p.client.keys());
    // Only one shares: the shares phase closes at its deadline with 1 < 3.
    const roster = parseRoster(await when(people[0]!, 'roster'));
    await call(people[0]!, 'POST', 'shares', await people[0]!.client.shares(roster));
    await expect.poll(async () => ((await (await fetch(`${base}/v1/tasks/tiny`)).json()) as { round: { id: number } }).round.id, { timeout: 10_000 }).toBe(2);
    expect(((await (await fetch(`${base}/v1/tasks/tiny`)).json()) as { modelVersion: number }).modelVersion).toBe(0);
    // A client still waiting on the old round is told it ended, in the shape it polls on.
    expect(await call(people[0]!, 'GET', 'inbox')).toMatchObject({ status: 202, body: { pending: true, phase: 'closed' } });
  });
});

describe('secure aggregation composed', () => {
  it('with central DP: each client adds its share of the noise, the sum carries it, and the accountant records ε', async () => {
    const { runSecureRound } = await import('../sim/secure-rounds.ts');
    const { Federation } = await import('./federation.ts');
    const { SqliteStore } = await import('./sqlite-store.ts');
    const store = new SqliteStore(':memory:');
    let now = 0;
    const dp = tinyTask({
      rounds: { minClients: 3, targetClients: 4, deadlineMs: 60_000 },
      privacy: { mode: 'central', clipNorm: 1, noiseMultiplier: 1, delta: 1e-5 },
      secureAggregation: { threshold: 0.6, neighbours: null, curve: 'P-256', clipNorm: 1, phaseMs: 1_000 },
    });
    const fed = new Federation(dp, new Float32Array(TINY_PARAMS), store, {}, () => now);
    const inputs = [0, 1, 2, 3].map((k) => {
      const answer = fed.checkin({ clientId: `client-dp-${k}`, exampleCount: 5 });
      if (answer.status !== 'assigned' || !answer.secureAggregation) throw new Error('not a secure round');
      return { clientId: `client-dp-${k}`, params: answer.secureAggregation, update: new Float32Array(TINY_PARAMS).fill(0.1) };
    });
    // σ per client = z·S/√minClients: any 3 survivors' noise adds up to at least central DP's (z·S)².
    expect(inputs[0]!.params.noiseStd).toBeCloseTo(1 / Math.sqrt(3), 12);
    expect(inputs[0]!.params.bound).toBeCloseTo(1 + 10 / Math.sqrt(3), 12);
    const report = await runSecureRound(fed, inputs, () => undefined, { get now() { return now; }, jump: (to) => (now = Math.max(now, to)) });
    expect(report.completed).toBe(true);
    const v1 = store.history('tiny')[1]!;
    expect(v1.privacy).toMatchObject({ mode: 'central', noiseMultiplier: 1, clipNorm: 1 });
    expect(v1.privacy!.epsilon).toBeGreaterThan(0);
    // The mean (over the fixed target 4) would be 0.1 everywhere; the noise on it has sd √(4/3)/4 ≈ 0.29.
    const w = store.latestVersion('tiny')!.weights;
    expect(w.some((x) => Math.abs(x - 0.1) > 1e-3)).toBe(true);
    expect(Math.max(...w.map((x) => Math.abs(x - 0.1)))).toBeLessThan(6 * 0.29);
    fed.stop();
    store.close();
  });
});

describe('a secure round and its clients over time', () => {
  const secureTask = () => tinyTask({ rounds: { minClients: 2, targetClients: 3, deadlineMs: 60_000 }, secureAggregation: { threshold: 0.6, neighbours: null, curve: 'P-256', clipNorm: 1, phaseMs: 1_000 } });

  it('tells a client that sent its keys to wait, rather than train the round again', async () => {
    const { Federation } = await import('./federation.ts');
    const { SqliteStore } = await import('./sqlite-store.ts');
    const store = new SqliteStore(':memory:');
    const fed = new Federation(secureTask(), new Float32Array(TINY_PARAMS), store, {}, () => 0);
    const answer = fed.checkin({ clientId: 'client-keys-1', exampleCount: 5 });
    if (answer.status !== 'assigned') throw new Error('not assigned');
    fed.secureKeys(answer.roundId, await new SecAggClient(answer.secureAggregation!, 'client-keys-1').keys());
    expect(fed.checkin({ clientId: 'client-keys-1', exampleCount: 5 })).toMatchObject({ status: 'wait', reason: expect.stringMatching(/securely aggregating/) });
    fed.stop();
    store.close();
  });

  it('aborts the round a restart interrupted (its secrets were in memory), and opens the next', async () => {
    const { Federation } = await import('./federation.ts');
    const { SqliteStore } = await import('./sqlite-store.ts');
    const store = new SqliteStore(':memory:');
    const first = new Federation(secureTask(), new Float32Array(TINY_PARAMS), store, {}, () => 0);
    const answer = first.checkin({ clientId: 'client-restart-1', exampleCount: 5 });
    if (answer.status !== 'assigned') throw new Error('not assigned');
    first.stop();
    const restarted = new Federation(secureTask(), new Float32Array(TINY_PARAMS), store, {}, () => 0);
    restarted.start();
    expect(restarted.summary()).toMatchObject({ modelVersion: 0, round: { id: answer.roundId + 1 } });
    restarted.stop();
    store.close();
  });
});
