import 'fake-indexeddb/auto';
import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ModelDeltas } from '../coordinator/model-deltas.ts';
import { MAX_DELTA_HOPS } from '../core/model-delta.ts';
import { createRng } from '../core/rng.ts';
import { ApiRequestError } from './coordinator-api.ts';
import { downloadModel, type ModelSource } from './model-download.ts';
import { CoveyStore } from './store.ts';
import { codecFor } from '../core/codecs/index.ts';
import { frameWithPayload } from '../core/update-frame.ts';

const N = 4096;
const task = { id: 'digits', lineage: 'L1', parameterCount: N };
const modelJson = { modelTopology: { class_name: 'Sequential' }, weightsManifest: [{ paths: ['weights.bin'], weights: [{ name: 'w', shape: [N], dtype: 'float32' }] }] };

/** A coordinator with versions 0…20 whose weights drift a little each version, serving deltas as the real one does. */
function coordinator() {
  const rng = createRng(1);
  const versions: Float32Array[] = [Float32Array.from({ length: N }, () => rng() - 0.5)];
  for (let v = 1; v <= 20; v++) versions.push(versions[v - 1]!.map((w) => w + (rng() - 0.5) * 0.01));
  const deltas = new ModelDeltas({ modelVector: (_t, v) => versions[v] ?? null });
  const asked: string[] = [];
  const api: ModelSource = {
    json: async (path) => (asked.push(path), modelJson),
    binary: async (path) => {
      asked.push(path);
      const delta = /models\/(\d+)\/delta-from\/(\d+)/.exec(path);
      if (delta) {
        const frame = await deltas.frame('digits', 'L1', Number(delta[2]), Number(delta[1]));
        if (!frame) throw new ApiRequestError(404, 'no_delta', 'none');
        return frame;
      }
      const v = Number(/models\/(\d+)\/weights/.exec(path)![1]);
      return new Uint8Array(versions[v]!.slice().buffer);
    },
  };
  return { api, asked, versions };
}

const maxError = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('downloadModel', () => {
  it('takes the whole model first, then deltas far smaller, then nothing for a version it holds', async () => {
    const store = await CoveyStore.open('download-1');
    const { api, asked, versions } = coordinator();
    const first = await downloadModel(api, store, task, 3);
    expect([first.via, first.model.version, first.model.hops]).toEqual(['full', 3, 0]);
    expect(first.bytes).toBeGreaterThan(N * 4);
    const second = await downloadModel(api, store, task, 4);
    expect([second.via, second.model.hops]).toEqual(['delta', 1]);
    expect(second.bytes).toBeLessThan((N * 4) / 3.5); // int8: a quarter, plus scales and header (uniform noise does not deflate)
    // The rounding of one delta is below its chunk's scale (a step of 0.005 at most here): about 4e-5.
    expect(maxError(second.model.weights, versions[4]!)).toBeLessThan(0.005 / 127 + 1e-7);
    expect(asked.filter((p) => p.includes('model.json'))).toHaveLength(1); // the topology once per lineage
    const again = await downloadModel(api, store, task, 4);
    expect([again.via, again.bytes]).toEqual(['held', 0]);
    store.close();
  });

  it('goes whole again after MAX_DELTA_HOPS deltas, for an old version, and for another lineage', async () => {
    const store = await CoveyStore.open('download-2');
    const { api } = coordinator();
    await downloadModel(api, store, task, 0);
    const vias: string[] = [];
    for (let v = 1; v <= MAX_DELTA_HOPS + 1; v++) vias.push((await downloadModel(api, store, task, v)).via);
    expect(vias).toEqual([...Array<string>(MAX_DELTA_HOPS).fill('delta'), 'full']);
    expect((await downloadModel(api, store, { ...task, lineage: 'L2' }, 10)).via).toBe('full');
    store.close();
  });

  it('takes the whole model when a delta cannot be read, and never trains on a corrupt one', async () => {
    const store = await CoveyStore.open('download-3');
    const { api, versions } = coordinator();
    await downloadModel(api, store, task, 1);
    const liar: ModelSource = {
      ...api,
      binary: async (path) => {
        const real = await api.binary(path);
        if (!path.includes('delta-from')) return real;
        const forged = new Uint8Array([...real.subarray(0, 24), ...deflateRawSync(new Uint8Array(10))]);
        // A header that promises more than the body inflates to, or far more than an int8 payload can be.
        if (path.includes('delta-from/1')) new DataView(forged.buffer).setUint32(20, 0xffffffff, true);
        return forged;
      },
    };
    const got = await downloadModel(liar, store, task, 2);
    expect(got.via).toBe('full');
    expect(got.model.weights).toEqual(versions[2]);
    await downloadModel(api, store, task, 1); // hold 1 again (a delta from 2 is not asked for: 1 is older)
    const huge = await downloadModel(liar, store, { ...task, lineage: 'L1' }, 3);
    expect(huge.via).toBe('full');
    store.close();
  });
});

describe('residual', () => {
  const codec = codecFor('topk:0.5')!;
  const frameOf = (values: Float32Array, lineage = 'L1') => frameWithPayload(codec, { clientId: 'client-1', baseVersion: 0, numExamples: 1, loss: 1, lineage }, codec.encode(values)).buffer;
  const item = (updateId: string, frame: ArrayBuffer) => ({ updateId, taskId: 'digits', roundId: 1, url: 'http://c/x', frame, codec: codec.name, createdAt: 0, attempts: 0, nextAttemptAt: 0 });

  it('is stored with its outbox item, survives a reopen, and goes with the task’s data', async () => {
    const store = await CoveyStore.open('residual-1');
    await store.putOutboxWithResidual('digits', (kept) => {
      expect(kept).toBeUndefined();
      return { item: item('u-1', frameOf(Float32Array.of(0, 3))), residual: { lineage: 'L1', codec: codec.name, values: Float32Array.of(1, 0) } };
    });
    store.close();
    const reopened = await CoveyStore.open('residual-1');
    expect((await reopened.residual('digits'))?.values).toEqual(Float32Array.of(1, 0));
    expect(await reopened.outbox()).toHaveLength(1);
    await reopened.deleteTask('digits');
    expect(await reopened.residual('digits')).toBeUndefined();
    reopened.close();
  });

  it('takes back what a refused update carried, in its lineage only', async () => {
    const store = await CoveyStore.open('residual-2');
    await store.putOutboxWithResidual('digits', () => ({ item: item('u-1', frameOf(Float32Array.of(0, 3))), residual: { lineage: 'L1', codec: codec.name, values: Float32Array.of(1, 0) } }));
    await store.rejectOutbox((await store.outbox())[0]!);
    // Nothing learnt is lost: the residual holds the unsent 1 and the refused 3.
    expect((await store.residual('digits'))?.values).toEqual(Float32Array.of(1, 3));
    expect(await store.outbox()).toHaveLength(0);
    // An update of another lineage (the coordinator started afresh) gives nothing back.
    await store.putOutboxWithResidual('digits', (kept) => ({ item: item('u-2', frameOf(Float32Array.of(5, 0), 'L0')), residual: kept ?? null }));
    await store.rejectOutbox((await store.outbox())[0]!);
    expect((await store.residual('digits'))?.values).toEqual(Float32Array.of(1, 3));
    store.close();
  });
});
