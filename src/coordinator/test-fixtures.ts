/** A tiny task for the coordinator's tests: 4 inputs, 3 classes, one dense layer (15 parameters). */
import * as tf from '@tensorflow/tfjs';
import { f32 } from '../core/codecs/f32.ts';
import { asTaskId } from '../core/ids.ts';
import { encodeUpdateFrame, type UpdateMeta } from '../core/update-frame.ts';
import { createCoordinator, type Coordinator, type CoordinatorOptions } from './coordinator.ts';
import type { TaskDefinition } from './task.ts';

export const TINY_PARAMS = 4 * 3 + 3;

export function tinyTask(over: Partial<TaskDefinition> = {}): TaskDefinition {
  return {
    id: asTaskId('tiny'),
    name: 'Tiny',
    description: 'A test task',
    input: { kind: 'tabular', labelColumn: 'y', columns: [{ name: 'a', type: 'numeric', mean: 0, std: 1 }, { name: 'b', type: 'categorical', values: ['x', 'y', 'z'] }] },
    labels: ['a', 'b', 'c'],
    metrics: ['accuracy'],
    allowedOrigins: ['https://allowed.example'],
    buildModel: async (seed) =>
      tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed }) })] }),
    training: { epochs: 1, batchSize: 4, learningRate: 0.1, optimizer: 'sgd', codec: 'f32' },
    rounds: { minClients: 1, targetClients: 2, deadlineMs: 60_000 },
    strategy: 'fedavg',
    loadTestSet: () => ({
      features: Float32Array.from({ length: 12 }, (_, i) => (i % 5) / 5),
      labels: Int32Array.of(0, 1, 2),
      count: 3,
    }),
    ...over,
  };
}

export function updateFrame(clientId: string, delta: number[] | Float32Array, over: Partial<UpdateMeta> = {}): Uint8Array<ArrayBuffer> {
  return encodeUpdateFrame(f32, { clientId, baseVersion: 0, numExamples: 10, loss: 0.5, ...over }, Float32Array.from(delta));
}

/**
 * A coordinator with the tiny task on a free loopback port, in memory; close it after the tests. Its
 * /metrics is open, as on a metrics port of its own (COVEY_METRICS_PORT), unless `opts` says otherwise.
 */
export async function startTestCoordinator(task: TaskDefinition = tinyTask(), opts: Partial<CoordinatorOptions> = {}): Promise<{ coordinator: Coordinator; base: string }> {
  const coordinator = await createCoordinator({ dbPath: ':memory:', tasks: [task], metricsAccess: 'open', ...opts });
  return { coordinator, base: await coordinator.server.listen({ port: 0, host: '127.0.0.1' }) };
}
