/**
 * Poisoning benchmark, on the simulator: the fraud task's first 10 natural clients, every one in every round,
 * 2 of them (20 %) hostile: they train honestly, then send their delta sign-flipped and scaled by 10. Each
 * strategy runs the same rounds from the same initial model through the real Federation (the task's norm
 * bound lifted, so that the strategy alone must cope); the held-out metrics after the last round are
 * printed beside a clean FedAvg run (no attackers).
 *
 * Options (environment): POISON_ROUNDS (5), POISON_SCALE (10).
 */
import * as tf from '@tensorflow/tfjs';
import { inputShape } from '../src/core/features.ts';
import { parsePartitionSpec } from '../src/core/partition.ts';
import { l2Norm, subtractWeights } from '../src/core/vector.ts';
import { loadTaskFile } from '../src/coordinator/task-file.ts';
import type { TaskDefinition } from '../src/coordinator/task.ts';
import { readWeights, trainLocally, writeWeights } from '../src/model/tf-model.ts';
import { loadSimData } from '../src/sim/datasets.ts';
import { simulate } from '../src/sim/simulation.ts';

tf.env().set('PROD', true);
const ROUNDS = Number(process.env.POISON_ROUNDS ?? 5);
const SCALE = Number(process.env.POISON_SCALE ?? 10);
const CLIENTS = 10;
const HOSTILE = new Set(['sim-client-0003', 'sim-client-0007']);

const base = loadTaskFile('tasks/fraud.json');
const shape = inputShape(base.input);
const data = loadSimData(base, { clients: CLIENTS, partition: parsePartitionSpec('iid'), holdout: 0, seed: 1 });

// Norm clipping needs a bound: the median honest update norm of a clean first round is a fair, known value.
const model = await base.buildModel(1);
const initial = await readWeights(model);
const norms: number[] = [];
for (const c of data.clients) {
  writeWeights(model, initial);
  const r = await trainLocally(model, c.train, base.training, { inputShape: shape, numClasses: 2, seed: 1 });
  norms.push(l2Norm(subtractWeights(r.weights, initial)));
}
model.dispose();
const clip = norms.sort((a, b) => a - b)[CLIENTS >> 1]!;

const runs: [string, Partial<TaskDefinition>, boolean][] = [
  ['fedavg, no attackers', { strategy: 'fedavg' }, false],
  ['fedavg', { strategy: 'fedavg' }, true],
  [`fedavg + clipping at ${clip.toFixed(2)}`, { strategy: 'fedavg', clipNorm: clip }, true],
  ['median', { strategy: 'median' }, true],
  ['trimmed-mean (β 0.2)', { strategy: 'trimmed-mean' }, true],
  ['krum', { strategy: 'krum' }, true],
  ['multi-krum', { strategy: 'multi-krum' }, true],
];
console.log(`\nPoisoning: fraud task, ${CLIENTS} clients, ${HOSTILE.size} hostile (sign flip × ${SCALE}), ${ROUNDS} rounds; held-out set of ${data.test.count}\n`);
console.log('strategy                          AUC     F1   accuracy');
for (const [name, over, attack] of runs) {
  const started = performance.now();
  const task: TaskDefinition = { ...base, maxUpdateNorm: undefined, ...over, rounds: { minClients: 1, targetClients: CLIENTS, deadlineMs: 365 * 24 * 3600_000 }, maxExamplesPerClient: Number.MAX_SAFE_INTEGER };
  let last: { accuracy: number; auc?: number; f1?: number } = { accuracy: NaN };
  await simulate(
    {
      task,
      clients: data.clients,
      test: data.test,
      inputShape: shape,
      perRound: CLIENTS,
      rounds: ROUNDS,
      seed: 1,
      tamper: attack ? (id, delta) => (HOSTILE.has(id) ? delta.map((v) => -SCALE * v) : delta) : undefined,
      onEvaluated: (_round, metrics) => (last = metrics),
    },
    () => undefined,
  );
  console.log(`${name.padEnd(32)}  ${(last.auc ?? NaN).toFixed(3)}  ${(last.f1 ?? NaN).toFixed(3)}  ${(last.accuracy * 100).toFixed(1).padStart(6)} %   (${((performance.now() - started) / 1000).toFixed(0)} s)`);
}
