import * as tf from '@tensorflow/tfjs';
import { unzipSync } from 'fflate';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OperatorTaskLine, OperatorTaskView } from '../core/operator.ts';
import type { CheckinResponse } from '../core/protocol.ts';
import { readWeights } from '../model/tf-model.ts';
import { authHeaders } from '../../e2e/coordinator.ts';
import type { Coordinator } from './coordinator.ts';
import type { CoordinatorStore } from './store.ts';
import { SqliteStore } from './sqlite-store.ts';
import { loadOperatorToken } from './operator-token.ts';
import { metricsPortFromEnv } from './config.ts';
import { OperatorView } from './operator-view.ts';
import { serveMetrics } from './metrics-server.ts';
import { Federation } from './federation.ts';
import { TINY_PARAMS, startTestCoordinator, tinyTask, updateFrame } from './test-fixtures.ts';

const TOKEN = 'operator-token-for-tests';
let c: Coordinator;
let base: string;
let registry: string;

/** A task file for the tiny task's shape: 4 numeric/categorical inputs, as the operator would upload it. */
const taskFile = (over: Record<string, unknown> = {}) => ({
  id: 'added',
  name: 'Added at run time',
  description: 'A task the operator uploads',
  input: { kind: 'tabular', labelColumn: 'y', columns: [{ name: 'a', type: 'numeric', mean: 0, std: 1 }, { name: 'b', type: 'categorical', values: ['x', 'y', 'z'] }] },
  labels: ['a', 'b', 'c'],
  model: { builtin: 'mlp', hidden: [64] },
  training: { epochs: 1, batchSize: 4, learningRate: 0.1, optimizer: 'sgd', codec: 'f32' },
  rounds: { minClients: 1, targetClients: 2, deadlineS: 60 },
  strategy: 'fedavg',
  allowedOrigins: [],
  ...over,
});

const op = (path: string, init: RequestInit = {}, token: string | null = TOKEN) =>
  fetch(`${base}/v1/operator${path}`, { ...init, headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...(init.headers as Record<string, string> | undefined) } });
const putTask = (json: unknown) => op('/tasks', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(json) });
const view = async (task = 'tiny') => (await (await op(`/tasks/${task}`)).json()) as OperatorTaskView;

async function checkin(clientId: string, task = 'tiny', backend = 'webgl', exampleCount = 10): Promise<CheckinResponse> {
  const res = await fetch(`${base}/v1/tasks/${task}/checkin`, { method: 'POST', headers: { 'content-type': 'application/json', ...(await authHeaders(base, clientId, task)) }, body: JSON.stringify({ clientId, exampleCount, backend }) });
  return (await res.json()) as CheckinResponse;
}

async function upload(clientId: string, round: number, delta: Float32Array, task = 'tiny', meta: Record<string, unknown> = {}): Promise<Response> {
  return fetch(`${base}/v1/tasks/${task}/rounds/${round}/updates/upd-${clientId}-${round}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', ...(await authHeaders(base, clientId, task)) },
    body: updateFrame(clientId, delta, { backend: 'webgl', ...meta }),
  });
}

beforeAll(async () => {
  registry = mkdtempSync(join(tmpdir(), 'covey-registry-'));
  ({ coordinator: c, base } = await startTestCoordinator(tinyTask({ rounds: { minClients: 2, targetClients: 2, deadlineMs: 60_000 } }), {
    operatorToken: TOKEN,
    metricsAccess: 'operator',
    taskRegistry: { dir: registry, baseDir: registry, roots: [registry], prepare: (t) => t },
  }));
});
afterAll(() => c.close());

describe('the operator API', () => {
  it('answers 401 without the operator token, or with another, and names the scheme', async () => {
    for (const token of [null, 'not-the-token-at-all', `${TOKEN}x`]) {
      const res = await op('/tasks', {}, token);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('operator_token_required');
    }
    expect((await op('/tasks/tiny/pause', { method: 'POST' }, null)).status).toBe(401);
    expect(c.tasks.get('tiny')!.federation.paused).toBe(false);
    const lines = (await (await op('/tasks')).json()) as OperatorTaskLine[];
    expect(lines.map((l) => l.id)).toEqual(['tiny']);
  });

  it('keeps /metrics behind the token, with Node\'s process metrics beside Covey\'s', async () => {
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
    expect(text).toMatch(/^covey_model_version\{task="tiny"\} 0$/m);
    expect(text).toMatch(/^covey_task_paused\{task="tiny"\} 0$/m);
  });

  it('shows a round as it happens: check-ins, places, updates, refusals, bytes, training time, backends and norms', async () => {
    const a = await checkin('client-op-a', 'tiny', 'webgpu');
    const b = await checkin('client-op-b', 'tiny', 'cpu');
    expect(a.status).toBe('assigned');
    expect(b.status).toBe('assigned');
    expect((await checkin('client-op-c', 'tiny', 'webgl', 0)).status).toBe('wait'); // holds no examples: seen, not eligible
    // A refused upload (wrong frame) and a model download, before anyone reports.
    const refused = await fetch(`${base}/v1/tasks/tiny/rounds/1/updates/upd-bad-1`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', ...(await authHeaders(base, 'client-op-a', 'tiny')) }, body: new Uint8Array(40) });
    expect(refused.status).toBe(400);
    const weights = await fetch(`${base}/v1/tasks/tiny/models/0/weights.bin`);
    const sent = (await weights.arrayBuffer()).byteLength;

    let v = await view();
    expect(v.rounds[0]).toMatchObject({ id: 1, checkins: { assigned: 2, wait: 1 }, assigned: 2, reported: 0, dropped: null, refused: { invalid_frame: 1 }, bytesUp: 0, trainMs: null, norms: null });
    expect(v.population).toMatchObject({ lastHour: 3, lastDay: 3, eligibleLastHour: 2, backends: { webgpu: 1, cpu: 1, webgl: 1 } });
    expect(v.versions[0]).toMatchObject({ version: 0, bytesDown: sent });
    expect(v.refusedTotal).toEqual({ invalid_frame: 1 });

    const ua = await upload('client-op-a', 1, new Float32Array(TINY_PARAMS).fill(0.1), 'tiny', { trainMs: 400, backend: 'webgpu' });
    const ub = await upload('client-op-b', 1, new Float32Array(TINY_PARAMS).fill(0.3), 'tiny', { trainMs: 1000, backend: 'cpu' });
    expect([ua.status, ub.status]).toEqual([200, 200]);
    await expect.poll(() => c.tasks.get('tiny')!.federation.modelVersion).toBe(1);

    v = await view();
    const closed = v.rounds.find((r) => r.id === 1)!;
    const upBytes = updateFrame('x', new Float32Array(TINY_PARAMS)).byteLength;
    // Hand computation: norms are 0.1·√15 and 0.3·√15; nearest-rank median of two is the first.
    expect(closed).toMatchObject({ state: 'closed', outcome: 'aggregated', assigned: 2, reported: 2, dropped: 0, backends: { webgpu: 1, cpu: 1 }, trainMs: { median: 400, p90: 1000 } });
    expect(closed.bytesUp).toBeGreaterThanOrEqual(2 * upBytes);
    expect(closed.norms!.min).toBeCloseTo(0.1 * Math.sqrt(15), 5);
    expect(closed.norms!.max).toBeCloseTo(0.3 * Math.sqrt(15), 5);
    expect(closed.norms!.count).toBe(2);
    expect(v.versions.find((x) => x.version === 1)).toMatchObject({ roundId: 1, numClients: 2, bytesUp: closed.bytesUp });
    expect(v.rounds[0]).toMatchObject({ id: 2, state: 'open', assigned: 0 });
    expect(v.configuration).toMatchObject({ strategy: 'fedavg', codec: 'f32', privacy: 'none' });
  });

  it('keeps the rounds\' counts when refused uploads name rounds at random', async () => {
    const before = (await view()).rounds.find((r) => r.id === 1)!;
    for (let round = 1000; round < 1210; round++) {
      const res = await fetch(`${base}/v1/tasks/tiny/rounds/${round}/updates/upd-random-${round}`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array(8) });
      expect(res.status).toBe(401);
    }
    const v = await view();
    expect(v.rounds.find((r) => r.id === 1)).toMatchObject({ checkins: before.checkins, refused: before.refused });
    expect(v.refusedTotal.token_required).toBe(210);
  });

  it('pauses a task (nobody is assigned, it says so, it stays paused across a restart) and resumes it', async () => {
    expect(await (await op('/tasks/tiny/pause', { method: 'POST' })).json()).toEqual({ id: 'tiny', paused: true });
    const told = await checkin('client-op-e');
    expect(told).toMatchObject({ status: 'wait', reason: 'the operator paused this task' });
    expect((await c.tasks.get('tiny')!.federation.summary()).paused).toBe(true);
    expect((await view()).paused).toBe(true);
    // An update trained offline by a client without a place waits too: 503, which its outbox tries again.
    const round = c.tasks.get('tiny')!.federation.currentRoundId;
    const offline = await upload('client-op-offline', round, new Float32Array(TINY_PARAMS).fill(0.01), 'tiny', { baseVersion: c.tasks.get('tiny')!.federation.modelVersion });
    expect(offline.status).toBe(503);
    expect(offline.headers.get('retry-after')).toBe('10');
    expect(((await offline.json()) as { error: { code: string } }).error.code).toBe('task_paused');
    // Kept in the store: a federation made afresh from it (a restart) is paused too.
    const again = new Federation(c.tasks.get('tiny')!.federation.task, new Float32Array(TINY_PARAMS), c.store);
    expect(again.paused).toBe(true);
    expect(await (await op('/tasks/tiny/resume', { method: 'POST' })).json()).toEqual({ id: 'tiny', paused: false });
    expect(await checkin('client-op-e')).toMatchObject({ status: 'assigned' });
  });

  it('refuses a task file with an error, naming the field, and registers nothing', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [taskFile({ rounds: { minClients: 3, targetClients: 2, deadlineS: 60 } }), 'rounds.minClients'],
      [taskFile({ id: 'Bad Id' }), 'id'],
      [taskFile({ labels: 'abc' }), 'labels'],
      [taskFile({ model: { builtin: 'digits-cnn' } }), 'model'],
      // Files outside the coordinator's folders, or not of the kind named, are not read at all.
      [taskFile({ model: { layersModel: '/etc/hostname' } }), 'model.layersModel'],
      [taskFile({ model: { layersModel: '../../../../../../etc/model.json' } }), 'model.layersModel'],
      [taskFile({ evaluation: { testSet: '/etc/passwd', format: 'csv', metrics: ['accuracy'] } }), 'evaluation.testSet'],
      // A test set that is not there is the field's error, not the coordinator's.
      [taskFile({ evaluation: { testSet: 'missing.csv', format: 'csv', metrics: ['accuracy'] } }), 'evaluation.testSet'],
    ];
    for (const [json, field] of cases) {
      const res = await putTask(json);
      expect(res.status, field).toBe(400);
      expect(((await res.json()) as { error: { field: string } }).error.field).toBe(field);
    }
    const notJson = await op('/tasks', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"id": ' });
    expect(notJson.status).toBe(400);
    expect(existsSync(join(registry, 'added.json'))).toBe(false);
    expect(c.tasks.has('added')).toBe(false);
  });

  it('adds a task while running, larger than any before, that takes check-ins and uploads at once', async () => {
    const res = await putTask(taskFile());
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ id: 'added', result: 'created' });
    expect(JSON.parse(readFileSync(join(registry, 'added.json'), 'utf8'))).toMatchObject({ id: 'added' });
    const summary = (await (await fetch(`${base}/v1/tasks/added`)).json()) as { parameterCount: number };
    expect(summary.parameterCount).toBe(4 * 64 + 64 + 64 * 3 + 3);
    expect((await checkin('client-new-a', 'added')).status).toBe('assigned');
    // Its upload is larger than the tiny task's limit: the limit is the new task's own.
    const ok = await upload('client-new-a', 1, new Float32Array(summary.parameterCount).fill(0.01), 'added');
    expect(ok.status).toBe(200);
    // A client that never checked in (it trained offline) is counted with the backend its update names.
    expect((await upload('client-new-z', 1, new Float32Array(summary.parameterCount).fill(0.01), 'added', { backend: 'wasm' })).status).toBe(200);
    expect((await view('added')).population.backends).toEqual({ webgl: 1, wasm: 1 });
    const tooLarge = await fetch(`${base}/v1/tasks/added/rounds/1/updates/upd-too-large`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', ...(await authHeaders(base, 'client-new-b', 'added')) }, body: new Uint8Array(c.tasks.get('added')!.federation.maxUploadBytes + 1) });
    expect(tooLarge.status).toBe(413);
  });

  it('updates a running task from a new file, keeping its versions; refuses a change of architecture', async () => {
    const res = await putTask(taskFile({ name: 'Renamed', rounds: { minClients: 1, targetClients: 5, deadlineS: 90 } }));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id: 'added', result: 'updated' });
    const v = await view('added');
    expect(v.task.name).toBe('Renamed');
    // The open round keeps the places it was opened with; the next opens with the new file's.
    expect(v.task.round!.targetClients).toBe(2);
    expect(v.configuration.rounds).toContain('1–5 clients');
    expect(existsSync(join(registry, 'added.json.previous'))).toBe(true);
    // Another architecture, also one with as many parameters (4·10+10 + 10·33+33 + 33·3+3 = 515 = 4·64+64 + 64·3+3).
    for (const hidden of [[8], [10, 33]]) {
      const changed = await putTask(taskFile({ model: { builtin: 'mlp', hidden } }));
      expect(changed.status, String(hidden)).toBe(400);
      expect(((await changed.json()) as { error: { field: string } }).error.field).toBe('model');
    }
    expect((await view('added')).task.name).toBe('Renamed');
  });

  it('downloads a model version as a TF.js layers model that loads with the version\'s weights', async () => {
    expect((await op('/tasks/tiny/models/1/download', {}, null)).status).toBe(401);
    expect((await op('/tasks/tiny/models/99/download')).status).toBe(404);
    const res = await op('/tasks/tiny/models/1/download');
    if (res.status !== 200) throw new Error(await res.text());
    expect(res.headers.get('content-type')).toBe('application/zip');
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="tiny-v1.zip"');
    const files = unzipSync(new Uint8Array(await res.arrayBuffer()));
    expect(Object.keys(files).sort()).toEqual(['model.json', 'weights.bin']);
    const modelJson = JSON.parse(new TextDecoder().decode(files['model.json']));
    const weightData = files['weights.bin']!.slice().buffer;
    const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: modelJson.modelTopology, weightSpecs: modelJson.weightsManifest[0].weights, weightData }));
    expect([...(await readWeights(model))]).toEqual([...c.store.modelVector('tiny', 1)!]);
    model.dispose();
  });
});

describe('the store behind the view', () => {
  const ones = (x: number) => new Float32Array(TINY_PARAMS).fill(x);
  const rounds = (fed: Federation, store: CoordinatorStore) => new OperatorView().task(fed, store).rounds;

  it('counts a client whose update a failed round carried into the next as reported, not dropped', () => {
    let now = 0;
    const store = new SqliteStore(':memory:');
    const fed = new Federation(tinyTask({ rounds: { minClients: 2, targetClients: 2, deadlineMs: 60_000 } }), ones(1), store, {}, () => now);
    fed.checkin({ clientId: 'client-aaaa', exampleCount: 10 });
    fed.checkin({ clientId: 'client-cccc', exampleCount: 10 }); // comes, never reports
    fed.acceptUpload(1, 'update-a001', updateFrame('client-aaaa', ones(1)));
    now = 60_000;
    fed.advance(); // 1 of min 2 by the deadline: fails, its update carried into round 2
    fed.acceptUpload(2, 'update-b001', updateFrame('client-bbbb', ones(3)));
    fed.advance();
    const [, second, first] = rounds(fed, store);
    expect(first).toMatchObject({ id: 1, outcome: 'failed', assigned: 2, reported: 0, carried: 0, dropped: 1 });
    expect(second).toMatchObject({ id: 2, outcome: 'aggregated', assigned: 1, reported: 2, carried: 1, dropped: 0 });
    fed.stop();
  });

  it('counts an update carried through two failed rounds as its own round\'s', () => {
    let now = 0;
    const store = new SqliteStore(':memory:');
    const fed = new Federation(tinyTask({ rounds: { minClients: 2, targetClients: 2, deadlineMs: 60_000 } }), ones(1), store, {}, () => now);
    fed.checkin({ clientId: 'client-aaaa', exampleCount: 10 });
    fed.acceptUpload(1, 'update-a001', updateFrame('client-aaaa', ones(1)));
    now = 60_000;
    fed.advance(); // round 1 fails: a's update goes on into round 2
    fed.checkin({ clientId: 'client-dddd', exampleCount: 10 }); // comes, never reports
    now = 130_000;
    fed.advance(); // round 2 fails too: a's update goes on into round 3
    fed.acceptUpload(3, 'update-b001', updateFrame('client-bbbb', ones(3)));
    fed.advance();
    const [third, second, first] = rounds(fed, store).slice(1);
    expect(first).toMatchObject({ id: 1, outcome: 'failed', assigned: 1, dropped: 0 });
    expect(second).toMatchObject({ id: 2, outcome: 'failed', assigned: 1, reported: 0, dropped: 1 });
    expect(third).toMatchObject({ id: 3, outcome: 'aggregated', reported: 2, carried: 1, dropped: 0 });
    fed.stop();
  });

  it('takes, while paused, the update of a buffered client whose lease began under an earlier buffer', () => {
    const store = new SqliteStore(':memory:');
    const fed = new Federation(tinyTask({ rounds: { minClients: 2, targetClients: 2, deadlineMs: 60_000, leaseMs: 60_000, buffer: { size: 2, maxStaleness: 2, concurrency: 8, staleness: { kind: 'polynomial', exponent: 0.5 } } } }), ones(1), store, {}, () => 0);
    for (const id of ['client-aaaa', 'client-bbbb', 'client-cccc']) fed.checkin({ clientId: id, exampleCount: 10 });
    fed.setPaused(true);
    fed.acceptUpload(1, 'update-a001', updateFrame('client-aaaa', ones(1)));
    fed.acceptUpload(1, 'update-b001', updateFrame('client-bbbb', ones(1)));
    fed.advance(); // the buffer closes; c's lease runs on
    expect(fed.acceptUpload(1, 'update-c001', updateFrame('client-cccc', ones(1), { baseVersion: 0 }))).toMatchObject({ status: 'accepted' });
    // Someone with no place waits.
    expect(() => fed.acceptUpload(2, 'update-e001', updateFrame('client-eeee', ones(1), { baseVersion: 1 }))).toThrow(expect.objectContaining({ status: 503, code: 'task_paused' }));
    fed.stop();
  });

  it('closes nothing once stopped (a task replaced while running)', () => {
    let now = 0;
    const store = new SqliteStore(':memory:');
    const fed = new Federation(tinyTask({ rounds: { minClients: 1, targetClients: 2, deadlineMs: 60_000 } }), ones(1), store, {}, () => now);
    fed.acceptUpload(1, 'update-a001', updateFrame('client-aaaa', ones(1)));
    fed.stop();
    now = 60_000;
    fed.advance();
    expect(store.currentRound('tiny')!.roundId).toBe(1);
  });

  it('counts no dropped clients per buffer, whose leases span buffers', () => {
    const store = new SqliteStore(':memory:');
    const fed = new Federation(tinyTask({ rounds: { minClients: 1, targetClients: 1, deadlineMs: 60_000, leaseMs: 60_000, buffer: { size: 1, maxStaleness: 2, concurrency: 4, staleness: { kind: 'polynomial', exponent: 0.5 } } } }), ones(1), store, {}, () => 0);
    fed.checkin({ clientId: 'client-aaaa', exampleCount: 10 });
    fed.checkin({ clientId: 'client-bbbb', exampleCount: 10 });
    fed.acceptUpload(1, 'update-a001', updateFrame('client-aaaa', ones(1)));
    fed.advance();
    expect(rounds(fed, store).find((r) => r.id === 1)).toMatchObject({ state: 'closed', reported: 1, dropped: null });
    fed.stop();
  });

  it('takes a secure round\'s reports from the version it made, and shows no bytes it does not store', () => {
    const store = new SqliteStore(':memory:');
    const task = tinyTask({ rounds: { minClients: 2, targetClients: 3, deadlineMs: 60_000 }, secureAggregation: { threshold: 0.6, neighbours: null, curve: 'auto', clipNorm: 1, phaseMs: 10_000 } });
    const fed = new Federation(task, ones(1), store, {}, () => 0);
    store.assign('tiny', 1, 'client-aaaa', 0);
    store.assign('tiny', 1, 'client-bbbb', 0);
    store.assign('tiny', 1, 'client-cccc', 0);
    // As a secure round closes: a version from the sum of two, no single update stored.
    store.closeRound({ taskId: 'tiny', roundId: 1, now: 1, from: 'open', result: { version: 1, weights: ones(1), numClients: 2, numExamples: 2, clientLoss: null }, next: { baseVersion: 1, state: 'open', minClients: 2, targetClients: 3, openedAt: 1, deadlineAt: 60_001, closedAt: null, outcome: null } });
    expect(rounds(fed, store).find((r) => r.id === 1)).toMatchObject({ assigned: 3, reported: 2, dropped: 1, bytesUp: null });
    fed.stop();
  });

  it('keeps no norm or training time of a private task\'s single updates', () => {
    const store = new SqliteStore(':memory:');
    const policy = { mode: 'central' as const, clipNorm: 1, noiseMultiplier: 1, delta: 1e-5 };
    const fed = new Federation(tinyTask({ privacy: policy, rounds: { minClients: 3, targetClients: 3, deadlineMs: 60_000 } }), new Float32Array(TINY_PARAMS), store, {}, () => 0);
    fed.acceptUpload(1, 'update-p-1x', updateFrame('client-pppp', new Float32Array(TINY_PARAMS).fill(0.01), { trainMs: 123 }));
    const [round] = store.roundActivity('tiny', 5);
    expect(round).toMatchObject({ reported: 1, norms: [], trainMs: [] });
  });
});

describe('the operator token', () => {
  it('comes from COVEY_OPERATOR_TOKEN, or is made once and kept private in the data directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'covey-op-token-'));
    const file = join(dir, 'operator-token');
    expect(loadOperatorToken(file, { COVEY_OPERATOR_TOKEN: 'a-token-chosen-by-hand' })).toBe('a-token-chosen-by-hand');
    expect(existsSync(file)).toBe(false);
    expect(() => loadOperatorToken(file, { COVEY_OPERATOR_TOKEN: 'short' })).toThrow(/at least 16/);
    const made = loadOperatorToken(file, {});
    expect(made.length).toBeGreaterThanOrEqual(32);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(loadOperatorToken(file, {})).toBe(made);
  });

  it('serves /metrics on a port of its own without the token, and nothing else there', async () => {
    const served = await serveMetrics(c.metrics, 0, '127.0.0.1');
    try {
      const res = await fetch(served.url);
      expect(res.status).toBe(200);
      expect(await res.text()).toMatch(/^covey_model_version\{task="tiny"\} \d+$/m);
      expect((await fetch(served.url.replace('/metrics', '/v1/operator/tasks'))).status).toBe(404);
      // A page on a DNS name rebound to the loopback cannot read it.
      const foreign = await new Promise<number>((resolve, reject) => request(served.url, { headers: { host: 'rebound.example' } }, (res) => resolve(res.statusCode ?? 0)).on('error', reject).end());
      expect(foreign).toBe(421);
    } finally {
      await served.close();
    }
  });

  it('reads COVEY_METRICS_PORT, refusing what is not a port', () => {
    expect(metricsPortFromEnv({})).toBeNull();
    expect(metricsPortFromEnv({ COVEY_METRICS_PORT: '9464' })).toBe(9464);
    expect(() => metricsPortFromEnv({ COVEY_METRICS_PORT: '99999' })).toThrow(/port number/);
  });
});
