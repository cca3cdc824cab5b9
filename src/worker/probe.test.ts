import 'fake-indexeddb/auto';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeModel } from '../model/tf-model.ts';
import { settleBackend } from './backend.ts';
import { indexedDbMemory, type BackendMemory } from './backend-memory.ts';
import { batchCandidates, chooseBatch, fastest, gradientError, measureBatches, probeBackends, type ProbeSubject } from './probe.ts';
import type { BackendName, BackendReport } from './protocol.ts';

// Stubbed backends: the CPU backend's kernels under other names. "slow" spins 0.2 ms in every kernel, as a
// backend that dispatches slowly would; "zero-grad" is the fastest but its convolution's filter gradient is
// all zeros, as TF.js's WebGPU backend once returned (issue #8590).
const SLOW = 'slow' as BackendName, FAST = 'fast' as BackendName, ZERO_GRAD = 'zero-grad' as BackendName;

function registerStub(name: string, wrap: (run: tf.KernelFunc, kernel: string) => tf.KernelFunc): void {
  tf.registerBackend(name, tf.findBackendFactory('cpu')!);
  for (const k of tf.getKernelsForBackend('cpu')) tf.registerKernel({ ...k, backendName: name, kernelFunc: wrap(k.kernelFunc, k.kernelName) });
}

const spin = (ms: number) => {
  const until = performance.now() + ms;
  while (performance.now() < until);
};

beforeAll(() => {
  registerStub(SLOW, (run) => (args) => (spin(0.2), run(args)));
  registerStub(FAST, (run) => run);
  registerStub(ZERO_GRAD, (run, kernel) => (args) => {
    const out = run(args) as tf.TensorInfo;
    if (kernel === 'Conv2DBackpropFilter') ((args.backend as unknown as { data: { get(id: object): { values: Float32Array } } }).data.get(out.dataId).values).fill(0);
    return out;
  });
});
afterAll(async () => {
  await tf.setBackend('cpu');
  for (const name of [SLOW, FAST, ZERO_GRAD]) tf.removeBackend(name);
});

async function subject(): Promise<ProbeSubject> {
  await tf.setBackend('cpu');
  const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [20], units: 16, activation: 'relu' }), tf.layers.dense({ units: 3, activation: 'softmax' })] });
  const spec = await describeModel(model);
  const weights = tf.concat(model.getWeights().map((w) => w.flatten()));
  const weightData = (await weights.data()).slice().buffer;
  tf.dispose([weights]);
  model.dispose();
  return { artifacts: { modelTopology: spec.modelTopology, weightSpecs: spec.weightSpecs, weightData }, inputShape: [20], numClasses: 3, batchSize: 8 };
}

describe('the backend probe', () => {
  it('times real training steps on each backend and picks the faster of two stubbed ones', async () => {
    const s = await subject();
    const tensors = tf.memory().numTensors;
    const { backend, measurements } = await probeBackends([SLOW, FAST], s, { budgetMs: 60 });
    expect(tf.memory().numTensors).toBe(tensors);
    expect(backend).toBe(FAST);
    expect(tf.getBackend()).toBe(FAST);
    const [slow, fast] = measurements;
    expect(slow!.samplesPerSecond! * 2).toBeLessThan(fast!.samplesPerSecond!);
    expect(fast!.batchSize).toBe(8);
    expect(fast!.msPerStep).toBeCloseTo((8 * 1000) / fast!.samplesPerSecond!, 6);
    expect(slow!.warmupMs).toBeGreaterThan(0);
  });

  it('checks gradients against the CPU backend and refuses a backend whose gradients are zero, however fast', async () => {
    const tensors = tf.memory().numTensors;
    expect(await gradientError(FAST)).toBe(0);
    expect(tf.memory().numTensors).toBe(tensors); // the check leaves nothing behind
    expect(await gradientError(ZERO_GRAD)).toBeGreaterThan(0.1);
    const { backend, measurements } = await probeBackends([ZERO_GRAD, SLOW, 'cpu'], await subject(), { budgetMs: 40 });
    expect(measurements[0]!.reason).toMatch(/gradients differ from the CPU backend's/);
    expect(measurements[1]!.gradientError).toBe(0);
    expect(measurements[2]!.gradientError).toBeUndefined(); // the reference is not checked against itself
    expect(backend).not.toBe(ZERO_GRAD);
  });

  it('ranks by samples a second among the usable measurements only', () => {
    expect(fastest([{ backend: 'webgpu', samplesPerSecond: 900, reason: 'broken' }, { backend: 'webgl', samplesPerSecond: 177 }, { backend: 'cpu', samplesPerSecond: 14 }])).toBe('webgl');
    expect(fastest([{ backend: 'cpu', reason: 'no' }])).toBeUndefined();
  });
});

describe('a batch that fits the device', () => {
  it('times each power of two within the range and its ends, never more than the examples', () => {
    expect(batchCandidates([16, 128])).toEqual([16, 32, 64, 128]);
    expect(batchCandidates([10, 50])).toEqual([10, 16, 32, 50]);
    expect(batchCandidates([8, 8])).toEqual([8]);
    expect(batchCandidates([16, 128], 100)).toEqual([16, 32, 64, 100]);
    expect(batchCandidates([16, 128], 5)).toEqual([16]);
  });

  it('takes the smallest batch whose epoch is within 10 % of the quickest', () => {
    const at = (pairs: [number, number][]) => pairs.map(([batchSize, msPerStep]) => ({ backend: 'webgl' as const, batchSize, msPerStep }));
    // A GPU: a step costs about the same at any batch. 1,000 examples: epochs of 63×20, 32×21, 16×23, 8×26 ms.
    expect(chooseBatch(at([[16, 20], [32, 21], [64, 23], [128, 26]]), 1000)).toBe(128);
    // Slower steps past 64: 16×23 = 368 ms against 8×44 = 352, within 10 %: 64.
    expect(chooseBatch(at([[16, 20], [32, 21], [64, 23], [128, 44]]), 1000)).toBe(64);
    // Time a step in proportion to the batch (a CPU): every epoch the same length, so the smallest, which learns most.
    expect(chooseBatch(at([[16, 190], [32, 380], [64, 760], [128, 1520]]), 1000)).toBe(16);
    // 100 examples on a GPU: 7×20, 4×21, 2×23 and 1×25 ms: all of them in one step.
    expect(chooseBatch(at([[16, 20], [32, 21], [64, 23], [100, 25]]), 100)).toBe(100);
    expect(chooseBatch([{ backend: 'cpu', batchSize: 16, reason: 'failed' }, { backend: 'cpu', batchSize: 0, msPerStep: 1 }, { backend: 'cpu', batchSize: 8, msPerStep: Number.NaN }], 100)).toBeUndefined();
  });

  it('picks the largest batch on a backend whose steps cost the same at any batch, as a GPU\'s dispatch does', async () => {
    await tf.setBackend(SLOW);
    const measured = await measureBatches(SLOW, await subject(), [4, 32], 1000, 40);
    expect(measured.map((m) => m.batchSize)).toEqual([4, 8, 16, 32]);
    expect(chooseBatch(measured, 1000)).toBe(32);
  });
});

describe('settling the backend for a model', () => {
  const initial: BackendReport = { backend: SLOW, fallbacks: [{ backend: 'webgpu', reason: 'no adapter' }] };
  const counting = (inner: BackendMemory) => {
    const calls = { recall: 0, remember: 0 };
    return { calls, memory: { recall: (k: string) => (calls.recall++, inner.recall(k)), remember: (k: string, c: Parameters<BackendMemory['remember']>[1]) => (calls.remember++, inner.remember(k, c)) } };
  };

  it('probes once, remembers the winner for this device and model, and recalls it next time without measuring', async () => {
    const { calls, memory } = counting(indexedDbMemory('backends-test-1'));
    const s = await subject();
    const first = await settleBackend(initial, s, { forced: false, memory, device: 'test browser', order: [SLOW, FAST], budgetMs: 40 });
    expect(first.backend).toBe(FAST);
    expect(first.probe!.chosenBy).toBe('probe');
    expect(first.fallbacks.map((f) => f.backend)).toEqual(['webgpu', SLOW]);
    expect(first.fallbacks[1]!.reason).toMatch(/^slower here: \d+ samples\/s against fast's \d+$/);
    await tf.setBackend(SLOW);
    const again = await settleBackend(initial, s, { forced: false, memory, device: 'test browser', order: [SLOW, FAST] });
    expect(again.backend).toBe(FAST);
    expect(tf.getBackend()).toBe(FAST);
    expect(again.probe).toEqual({ ...first.probe, chosenBy: 'remembered' });
    expect(calls).toEqual({ recall: 2, remember: 1 });
    // Another device, or another model (here: another batch), is measured afresh.
    const elsewhere = await settleBackend(initial, { ...s, batchSize: 16 }, { forced: false, memory, device: 'test browser', order: [SLOW, FAST], budgetMs: 40 });
    expect(elsewhere.probe!.chosenBy).toBe('probe');
    expect(calls.remember).toBe(2);
  });

  it('does not probe a forced backend, yet checks and shows its gradients', async () => {
    const { calls, memory } = counting(indexedDbMemory('backends-test-2'));
    const r = await settleBackend(initial, await subject(), { forced: true, memory, device: 'test browser', order: [SLOW, FAST] });
    expect(r.backend).toBe(SLOW);
    expect(tf.getBackend()).toBe(SLOW);
    expect(r.probe!.chosenBy).toBe('forced');
    expect(r.probe!.measurements).toEqual([{ backend: SLOW, gradientError: 0 }]);
    expect(calls).toEqual({ recall: 0, remember: 0 });
  });

  it('keeps the only backend that works without measuring it', async () => {
    const r = await settleBackend({ backend: 'cpu', fallbacks: [] }, await subject(), { forced: false, memory: indexedDbMemory('backends-test-3'), device: 'd' });
    expect(r).toMatchObject({ backend: 'cpu', probe: { chosenBy: 'only', measurements: [] } });
    // In Node neither WebGPU nor WebGL exists: both are listed with why.
    expect(r.fallbacks.map((f) => f.backend)).toEqual(['webgpu', 'webgl']);
  });
});

describe('the memory of choices', () => {
  it('forgets a choice after 30 days, and ignores what it cannot read', async () => {
    let now = 1_000_000;
    const memory = indexedDbMemory('backends-test-4', () => now);
    const choice = { backend: 'webgl' as const, measurements: [{ backend: 'webgl' as const, samplesPerSecond: 177, msPerStep: 180.8, batchSize: 32 }], measuredAt: now, probeMs: 800 };
    await memory.remember('k', choice);
    expect(await memory.recall('k')).toEqual(choice);
    now += 29 * 24 * 3600_000;
    expect(await memory.recall('k')).toEqual(choice);
    now += 2 * 24 * 3600_000;
    expect(await memory.recall('k')).toBeUndefined();
    await memory.remember('junk', { backend: 42, measurements: [] } as never);
    expect(await memory.recall('junk')).toBeUndefined();
    // A timing another version wrote without its time a step, or with a batch of 0, is not trusted either.
    for (const bad of [{ backend: 'webgl', samplesPerSecond: 177 }, { backend: 'webgl', samplesPerSecond: 1, msPerStep: 1, batchSize: 0 }, { backend: 'webgl', samplesPerSecond: 1, msPerStep: Number.NaN }]) {
      await memory.remember('bad', { ...choice, measuredAt: now, measurements: [bad] } as never);
      expect(await memory.recall('bad')).toBeUndefined();
    }
  });
});
