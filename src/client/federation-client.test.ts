import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import type { CheckinResponse, TaskSummary } from '../core/protocol.ts';
import type { BackendReport, TrainJob } from '../worker/protocol.ts';
import { ApiRequestError, type CoordinatorApi } from './coordinator-api.ts';
import { FederationClient, type FederationEvent } from './federation-client.ts';
import { Outbox } from './outbox.ts';
import { CoveyStore } from './store.ts';
import { CONDITIONS_SETTING } from './eligibility.ts';
import type { WorkerBridge } from './worker-bridge.ts';

const PARAMS = 6;

const task = {
  id: 'tiny',
  name: 'Tiny',
  inputShape: [2],
  labels: ['a', 'b'],
  input: { kind: 'tabular', labelColumn: 'y', columns: [] },
  config: { epochs: 1, batchSize: 4, learningRate: 0.1, optimizer: 'sgd', codec: 'f32' },
  lineage: 'test',
  parameterCount: PARAMS,
  round: { id: 1, baseVersion: 0 },
} as unknown as TaskSummary;

const assigned: CheckinResponse = {
  status: 'assigned',
  roundId: 1,
  modelVersion: 0,
  modelUrl: '/v1/tasks/tiny/models/0/model.json?lineage=test',
  uploadUrl: '/v1/tasks/tiny/rounds/1/updates/',
  config: task.config,
  deadline: new Date(Date.now() + 600_000).toISOString(),
};

/** A worker bridge on the CPU that records each training job and returns a zero delta. */
const trainingBridge = (jobs: TrainJob[]) =>
  ({
    backend: async (): Promise<BackendReport> => ({ backend: 'cpu', fallbacks: [] }),
    onBackend: () => () => undefined,
    train: async (job: TrainJob) => {
      jobs.push(job);
      return { delta: new Float32Array(PARAMS), loss: 0.5, accuracy: 0.5, numExamples: job.count, trainMs: 1, backend: 'cpu' };
    },
  }) as unknown as WorkerBridge;

describe('FederationClient', () => {
  it('does not train again for a round whose update waits in the outbox because the coordinator is busy', async () => {
    const store = await CoveyStore.open('federation-client-test');
    await store.add([0, 1, 0, 1].map((label) => ({ taskId: 'tiny', label, features: new Float32Array([label, 1 - label]), source: 'imported' as const, addedAt: 0 })));

    let checkins = 0;
    const uploads: string[] = [];
    const controller = new AbortController();
    const api = {
      url: (path: string) => `http://coordinator.test${path}`,
      task: async () => task,
      json: async () => ({ modelTopology: { class_name: 'Sequential' }, weightsManifest: [{ paths: ['weights.bin'], weights: [{ name: 'w', shape: [PARAMS], dtype: 'float32' }] }] }),
      binary: async () => new Uint8Array(PARAMS * 4),
      checkin: async () => {
        checkins += 1;
        if (checkins === 3) controller.abort();
        return assigned;
      },
      // Busy every time: the update stays in the outbox, with Retry-After 1 s.
      upload: async (_task: string, _url: string, updateId: string) => {
        uploads.push(updateId);
        throw new ApiRequestError(503, 'busy', 'the coordinator is busy; try again shortly', undefined, 1);
      },
    } as unknown as CoordinatorApi;
    const jobs: TrainJob[] = [];
    const bridge = trainingBridge(jobs);
    const outbox = new Outbox(store, api);
    const events: FederationEvent[] = [];
    const client = new FederationClient({ api, store, bridge, outbox, taskId: 'tiny', onEvent: (e) => events.push(e) });

    await client.run(controller.signal);

    expect(checkins).toBe(3);
    expect(jobs).toHaveLength(1);
    const waiting = await store.outbox();
    expect(waiting).toHaveLength(1);
    // Every try sent the same update, under the id it was made with.
    expect(new Set(uploads)).toEqual(new Set([waiting[0]!.updateId]));
    expect(events).toContainEqual(expect.objectContaining({ type: 'phase', phase: 'waiting', message: expect.stringMatching(/update for round 1 waits to be sent/) }));
    store.close();
  }, 15_000);

  it('trains offline for the round it last knew of, unless the operator had paused the task', async () => {
    for (const paused of [false, true]) {
      const store = await CoveyStore.open(`federation-client-paused-${paused}`);
      await store.add([0, 1, 0, 1].map((label) => ({ taskId: 'tiny', label, features: new Float32Array([label, 1 - label]), source: 'imported' as const, addedAt: 0 })));
      const input = { kind: 'tabular', labelColumn: 'y', columns: [{ name: 'a', type: 'numeric', mean: 0, std: 1 }, { name: 'b', type: 'numeric', mean: 0, std: 1 }] };
      await store.putSetting('task:tiny', { ...task, input, round: { id: 1, state: 'open', baseVersion: 0, assigned: 0, received: 0, minClients: 1, targetClients: 2, deadline: new Date().toISOString() }, metrics: ['accuracy'], description: '', modelVersion: 0, ...(paused ? { paused: true } : {}) });
      const controller = new AbortController();
      const api = {
        url: (path: string) => `http://coordinator.test${path}`,
        // Offline: the coordinator cannot be reached.
        task: async () => {
          setTimeout(() => controller.abort(), 300);
          throw new ApiRequestError(undefined, 'offline', 'the network is down');
        },
        json: async () => ({ modelTopology: { class_name: 'Sequential' }, weightsManifest: [{ paths: ['weights.bin'], weights: [{ name: 'w', shape: [PARAMS], dtype: 'float32' }] }] }),
        binary: async () => new Uint8Array(PARAMS * 4),
      } as unknown as CoordinatorApi;
      const jobs: TrainJob[] = [];
      const bridge = trainingBridge(jobs);
      const events: FederationEvent[] = [];
      const client = new FederationClient({ api, store, bridge, outbox: new Outbox(store, api), taskId: 'tiny', onEvent: (e) => events.push(e) });
      await client.run(controller.signal);
      expect(events.some((e) => e.type === 'task'), 'the cached task is read').toBe(!paused);
      expect(jobs, paused ? 'paused: nothing trained' : 'not paused: trained offline').toHaveLength(paused ? 0 : 1);
      store.close();
    }
  }, 15_000);

  it('does not check in while the device waits for the charger the person asked for, and says so', async () => {
    const store = await CoveyStore.open('federation-client-conditions');
    await store.add([0, 1].map((label) => ({ taskId: 'tiny', label, features: new Float32Array([label, 1 - label]), source: 'imported' as const, addedAt: 0 })));
    await store.putSetting(CONDITIONS_SETTING, { charging: true });
    let checkins = 0;
    const controller = new AbortController();
    const api = {
      url: (path: string) => `http://coordinator.test${path}`,
      task: async () => ({ ...task, conditions: { unmetered: true } }),
      checkin: async () => {
        checkins += 1;
        controller.abort();
        return { status: 'wait', reason: 'test', retryAfterMs: 1 };
      },
    } as unknown as CoordinatorApi;
    const bridge = { backend: async (): Promise<BackendReport> => ({ backend: 'cpu', fallbacks: [] }), onBackend: () => () => undefined } as unknown as WorkerBridge;
    const outbox = new Outbox(store, api);
    const events: FederationEvent[] = [];
    let charging = false;
    const listeners = new Set<() => void>();
    const signals = { charging: async () => charging, metered: () => null, idle: () => null, onChange: (l: () => void) => (listeners.add(l), () => listeners.delete(l)) };
    const client = new FederationClient({ api, store, bridge, outbox, taskId: 'tiny', onEvent: (e) => events.push(e), signals });
    const running = client.run(controller.signal);
    await new Promise((r) => setTimeout(r, 50));
    expect(checkins).toBe(0);
    expect(events).toContainEqual({ type: 'phase', phase: 'waiting', message: 'Waiting: waiting for the charger' });
    // The task's own condition (unmetered) cannot be told here: skipped, and shown as such.
    expect(events).toContainEqual({ type: 'conditions', states: [{ name: 'charging', met: false, waitingFor: 'waiting for the charger' }, { name: 'unmetered', met: null, waitingFor: expect.any(String) as string }] });
    charging = true;
    listeners.forEach((l) => l());
    await running;
    expect(checkins).toBe(1);
    store.close();
  });

  it('comes back after the wait the coordinator asked for (pace steering), not sooner', async () => {
    const store = await CoveyStore.open('federation-client-pace');
    await store.add([0, 1].map((label) => ({ taskId: 'tiny', label, features: new Float32Array([label, 1 - label]), source: 'imported' as const, addedAt: 0 })));
    const at: number[] = [];
    const controller = new AbortController();
    const api = {
      url: (path: string) => `http://coordinator.test${path}`,
      task: async () => task,
      checkin: async () => {
        at.push(performance.now());
        if (at.length === 2) controller.abort();
        return { status: 'wait', reason: 'round 1 is full', retryAfterMs: 400 };
      },
    } as unknown as CoordinatorApi;
    const bridge = { backend: async (): Promise<BackendReport> => ({ backend: 'cpu', fallbacks: [] }), onBackend: () => () => undefined } as unknown as WorkerBridge;
    const signals = { charging: async () => null, metered: () => null, idle: () => null, onChange: () => () => undefined };
    await new FederationClient({ api, store, bridge, outbox: new Outbox(store, api), taskId: 'tiny', onEvent: () => undefined, signals }).run(controller.signal);
    expect(at).toHaveLength(2);
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(395);
    store.close();
  });
});
