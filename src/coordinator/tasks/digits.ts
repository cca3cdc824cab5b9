import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeRecords } from '../../core/example-records.ts';
import { asTaskId } from '../../core/ids.ts';
import { uint8ToUnitFloats, type ExampleBatch } from '../../worker/tf-model.ts';
import type { TaskDefinition } from '../task.ts';

const INPUT_SHAPE = [28, 28, 1];
const FEATURES = 28 * 28;

/** A small CNN (≈ 21 k parameters, 84 kB per f32 update): two conv/pool blocks, one hidden dense layer. */
function buildDigitsCnn(seed: number): tf.LayersModel {
  const init = (offset: number) => tf.initializers.glorotUniform({ seed: seed + offset });
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: INPUT_SHAPE, filters: 8, kernelSize: 5, activation: 'relu', kernelInitializer: init(1) }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 16, kernelSize: 5, activation: 'relu', kernelInitializer: init(2) }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 64, activation: 'relu', kernelInitializer: init(3) }),
      tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: init(4) }),
    ],
  });
}

/** Reads a records file (see core/example-records.ts) into a batch the model takes. */
export function readDigitsFile(path: string): ExampleBatch {
  const examples = decodeRecords(new Uint8Array(readFileSync(path)), FEATURES);
  const features = new Float32Array(examples.length * FEATURES);
  examples.forEach((ex, i) => uint8ToUnitFloats(ex.pixels, features.subarray(i * FEATURES, (i + 1) * FEATURES)));
  return { features, labels: Int32Array.from(examples, (ex) => ex.label), count: examples.length };
}

export function createDigitsTask(datasetDir: string): TaskDefinition {
  return {
    id: asTaskId('digits'),
    name: 'Handwritten digits',
    description: 'Recognise handwritten digits 0–9 from 28×28 greyscale drawings (MNIST).',
    inputShape: INPUT_SHAPE,
    labels: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    buildModel: buildDigitsCnn,
    training: { epochs: 2, batchSize: 32, learningRate: 0.002, optimizer: 'adam', codec: 'f32' },
    rounds: { minClients: 2, targetClients: 3, deadlineMs: 120_000 },
    strategy: 'fedavg',
    loadTestSet: () => readDigitsFile(join(datasetDir, 'test.bin')),
  };
}
