import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import type { TrainingConfig } from '../core/protocol.ts';
import { evaluate, personalize, readWeights, trainLocally, writeWeights } from './tf-model.ts';
import { MessageChannel } from 'node:worker_threads';

const model = () => tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 2, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) })] });
const data = { features: Float32Array.of(1, 0, 2, 0, 1, -1, 2, 2, 0, -1, 0, 1), labels: Int32Array.of(0, 1, 1, 0), count: 4 };
const opts = { inputShape: [3], numClasses: 2, seed: 9 };
const sgd = (over: Partial<TrainingConfig> = {}): TrainingConfig => ({ epochs: 1, batchSize: 2, learningRate: 0.5, optimizer: 'sgd', codec: 'f32', ...over });

async function train(config: TrainingConfig, from: Float32Array, count = data.count, seed = opts.seed) {
  const m = model();
  writeWeights(m, from);
  const result = await trainLocally(m, { ...data, count, features: data.features.subarray(0, count * 3), labels: data.labels.subarray(0, count) }, config, { ...opts, seed });
  m.dispose();
  return result.weights;
}

describe('personalization', () => {
  it('fine-tunes only the last K layers with weights, and leaves the layers trainable as they were', async () => {
    const m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 4, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }), tf.layers.dense({ units: 2, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) })] });
    const before = m.getWeights().map((t) => [...t.dataSync()]);
    await personalize(m, data, sgd({ personalization: { epochs: 2, layers: 'last:1' } }), opts);
    const after = m.getWeights().map((t) => [...t.dataSync()]);
    expect(after[0]).toEqual(before[0]); // first layer's kernel and bias: frozen
    expect(after[1]).toEqual(before[1]);
    expect(after[2]).not.toEqual(before[2]); // the last layer's kernel moved
    expect(m.layers.every((l) => l.trainable)).toBe(true);
    // The weights it returns are in the model's own order (frozen layers first here), ready to be written back.
    const returned = (await personalize(m, data, sgd({ personalization: { epochs: 1, layers: 'last:1' } }), opts)).weights;
    expect([...returned]).toEqual([...(await readWeights(m))]);
    await personalize(m, data, sgd({ personalization: { epochs: 1, layers: 'all' } }), opts);
    expect([...m.getWeights()[0]!.dataSync()]).not.toEqual(after[0]);
  });
});

describe('local training', () => {
  it('is the same for the same seed and weights, and shuffles otherwise for another seed', async () => {
    const w0 = await readWeights(model());
    expect([...(await train(sgd(), w0))]).toEqual([...(await train(sgd(), w0))]);
    expect([...(await train(sgd(), w0, 4, 10))]).not.toEqual([...(await train(sgd(), w0, 4, 9))]);
  });

  it('adds FedProx\'s gradient μ·(w − w_global): the second step moves back towards the global model by ημ(w1 − w0)', async () => {
    const w0 = await readWeights(model());
    const mu = 0.3;
    const eta = 0.5;
    // One example per batch, two batches: the first step is the same with or without the term (w = w_global
    // there), so w2(μ) = w2(0) − ημ(w1 − w0) exactly.
    const twoSteps = await train(sgd({ batchSize: 1 }), w0, 2, 1);
    const twoStepsProx = await train(sgd({ batchSize: 1, proximalMu: mu }), w0, 2, 1);
    const w1 = await firstStep(w0, 1);
    expect([...w1]).not.toEqual([...w0]);
    for (let i = 0; i < w0.length; i++) expect(twoStepsProx[i]).toBeCloseTo(twoSteps[i]! - eta * mu * (w1[i]! - w0[i]!), 5);
  });

  it('takes one full-batch gradient step for FedSGD: w − η·mean gradient', async () => {
    const w0 = await readWeights(model());
    const stepped = await train(sgd({ batchSize: 1_000, learningRate: 0.1 }), w0);
    const m = model();
    writeWeights(m, w0);
    const x = tf.tensor2d(data.features, [4, 3]);
    const y = tf.oneHot(tf.tensor1d(data.labels, 'int32'), 2);
    const vars = m.trainableWeights.map((w) => w.read() as tf.Variable);
    const { grads } = tf.variableGrads(() => tf.mean(tf.neg(tf.log(tf.sum(tf.mul(m.apply(x) as tf.Tensor, y), 1)))) as tf.Scalar, vars);
    const g = Float32Array.from((await Promise.all(vars.map((v) => grads[v.name]!.data()))).flatMap((d) => [...d]));
    for (let i = 0; i < w0.length; i++) expect(stepped[i]).toBeCloseTo(w0[i]! - 0.1 * g[i]!, 5);
  });
});

describe('reading the loss back every N steps', () => {
  // 60 examples of the 4 above, batch 2: 30 steps an epoch.
  const many = { features: Float32Array.from({ length: 180 }, (_, i) => data.features[i % 12]!), labels: Int32Array.from({ length: 60 }, (_, i) => data.labels[i % 4]!), count: 60 };

  it('reports every step, refreshes the loss only after an epoch\'s first step, every N steps and at its end, and ends with the same weights, loss and accuracy', async () => {
    const run = async (lossEvery: number) => {
      const m = model();
      const seen: { batch: number; loss: number }[] = [];
      const r = await trainLocally(m, many, sgd({ epochs: 2 }), { ...opts, lossEvery, onProgress: (p) => seen.push({ batch: p.batch, loss: p.loss }) });
      m.dispose();
      return { r, seen };
    };
    const every = await run(1);
    const sparse = await run(8);
    expect(sparse.seen).toHaveLength(60);
    expect(sparse.r.loss).toBeCloseTo(every.r.loss, 6);
    expect(sparse.r.accuracy).toBe(every.r.accuracy);
    expect([...sparse.r.weights]).toEqual([...every.r.weights]);
    // Steps 1, 8, 16, 24 and the epoch's last (30) read in epoch 1; its first (31), 32, 40, 48, 56 and its last (60) in epoch 2.
    const changedAt = sparse.seen.flatMap((s, i) => (i === 0 || s.loss !== sparse.seen[i - 1]!.loss ? [i + 1] : []));
    expect(changedAt.every((k) => [1, 8, 16, 24, 30, 31, 32, 40, 48, 56, 60].includes(k))).toBe(true);
    expect(new Set(changedAt).size).toBeGreaterThanOrEqual(8);
  });

  it('gives the full batch\'s loss and accuracy before its one step, as evaluating the starting model does', async () => {
    const m = model();
    const start = await evaluate(m, data, [3]);
    const r = await trainLocally(m, data, sgd({ batchSize: 4 }), opts);
    expect(r.loss).toBeCloseTo(start.loss, 5);
    expect(r.accuracy).toBe(start.accuracy);
    m.dispose();
  });

  it('stops within a step or two of a cancel message, as the worker receives Leave', async () => {
    const m = model();
    const channel = new MessageChannel();
    const controller = new AbortController();
    channel.port1.on('message', () => controller.abort(new DOMException('left', 'AbortError')));
    let steps = 0, cancelledAt = 0;
    const run = trainLocally(m, many, sgd({ epochs: 20 }), {
      ...opts,
      signal: controller.signal,
      onProgress: () => {
        steps++;
        if (steps === 5) {
          cancelledAt = steps;
          channel.port2.postMessage('cancel');
        }
      },
    });
    await expect(run).rejects.toThrow('left');
    channel.port1.close();
    m.dispose();
    expect(cancelledAt).toBe(5);
    expect(steps - cancelledAt).toBeLessThanOrEqual(2);
  });
});

/** The weights after the first of the two SGD steps on the first two examples (in the order `seed` gives them). */
async function firstStep(w0: Float32Array, seed: number): Promise<Float32Array> {
  const m = model();
  writeWeights(m, w0);
  const snapshot: Float32Array[] = [];
  await trainLocally(m, { features: data.features.subarray(0, 6), labels: data.labels.subarray(0, 2), count: 2 }, sgd({ batchSize: 1 }), {
    ...opts,
    seed,
    onProgress: () => {
      snapshot.push(Float32Array.from(m.getWeights().flatMap((t) => [...t.dataSync()])));
    },
  });
  m.dispose();
  return snapshot[0]!;
}
