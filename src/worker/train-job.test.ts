import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { describeModel } from '../model/tf-model.ts';
import { buildModel } from '../model/models.ts';
import type { TrainJob } from './protocol.ts';
import { runTrainJob } from './train-job.ts';

/** A round's job as the page sends it: the digits 2NN's shape on small random images, with held-out examples and personalization. */
async function job(seed: number): Promise<TrainJob> {
  const model = await buildModel({ builtin: 'mlp', hidden: [32] }, [28, 28, 1], 10, seed);
  const spec = await describeModel(model);
  const weights = new Float32Array(model.getWeights().flatMap((w) => [...(w.dataSync() as Float32Array)]));
  model.dispose();
  const count = 40;
  const features = Uint8Array.from({ length: count * 784 }, (_, i) => (i * 37 + seed) % 256);
  const labels = Uint8Array.from({ length: count }, (_, i) => (i + seed) % 10);
  return {
    modelUrl: 'memory://',
    model: { topology: spec.modelTopology, weightSpecs: spec.weightSpecs, weights: weights.buffer },
    config: { epochs: 1, batchSize: 8, learningRate: 0.05, optimizer: 'adam', codec: 'f32', personalization: { epochs: 1, layers: 'last:1' } },
    inputShape: [28, 28, 1],
    numClasses: 10,
    features: features.buffer,
    dtype: 'uint8',
    labels: labels.buffer,
    count,
    featureScale: 1 / 255,
    heldOut: { features: features.slice(0, 10 * 784).buffer, labels: labels.slice(0, 10).buffer, count: 10 },
  } as TrainJob;
}

describe('the trainer worker\'s job', () => {
  it('leaves no tensor and no memory behind over 50 rounds (evaluation, personalization and training each time)', async () => {
    await tf.setBackend('cpu');
    const first = await runTrainJob(await job(0), new AbortController().signal);
    expect(first.delta.length).toBe(784 * 32 + 32 + 32 * 10 + 10);
    expect(first.evaluation?.count).toBe(10);
    expect(first.personalWeights?.length).toBe(first.delta.length);
    const before = tf.memory();
    for (let round = 1; round <= 50; round++) await runTrainJob(await job(round), new AbortController().signal);
    const after = tf.memory();
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numBytes).toBe(before.numBytes);
  }, 120_000);
});
