/**
 * Poisoning benchmark: the fraud task simulated in Node (TF.js CPU backend) with 10 clients, 2 of them
 * (20 %) hostile: they train honestly, then send their delta sign-flipped and scaled by 10. Each strategy
 * runs the same rounds from the same initial model; the held-out metrics after the last round are printed
 * beside a clean FedAvg run (no attackers).
 *
 * Options (environment): POISON_ROUNDS (5), POISON_SCALE (10).
 */
import * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import { inputShape } from '../src/core/features.ts';
import type { Strategy } from '../src/core/strategy.ts';
import { fedAvg } from '../src/core/strategies/fedavg.ts';
import { krum, multiKrum } from '../src/core/strategies/krum.ts';
import { median } from '../src/core/strategies/median.ts';
import { withNormClipping } from '../src/core/strategies/norm-clipping.ts';
import { trimmedMean } from '../src/core/strategies/trimmed-mean.ts';
import { applyDelta, l2Norm, subtractWeights } from '../src/core/vector.ts';
import { loadTaskFile, readCsvFile } from '../src/coordinator/task-file.ts';
import { evaluate, readWeights, trainLocally, writeWeights, type Evaluation } from '../src/model/tf-model.ts';

tf.env().set('PROD', true);
const ROUNDS = Number(process.env.POISON_ROUNDS ?? 5);
const SCALE = Number(process.env.POISON_SCALE ?? 10);
const CLIENTS = 10;
const HOSTILE = new Set([3, 7]);

const task = loadTaskFile('tasks/fraud.json');
const shape = inputShape(task.input);
const test = task.loadTestSet();
const data = Array.from({ length: CLIENTS }, (_, i) => readCsvFile(join('.generated/datasets/fraud/clients', `${String(i).padStart(2, '0')}.csv`), task.input, 2));
const model = await task.buildModel(1);
const initial = await readWeights(model);

async function run(strategy: Strategy, attack: boolean): Promise<Evaluation> {
  let global = initial;
  for (let round = 0; round < ROUNDS; round++) {
    const acc = strategy.createAccumulator(global.length);
    for (let c = 0; c < CLIENTS; c++) {
      writeWeights(model, global);
      const result = await trainLocally(model, data[c]!, task.training, { inputShape: shape, numClasses: 2 });
      const delta = subtractWeights(result.weights, global);
      if (attack && HOSTILE.has(c)) acc.add(delta.map((v) => -SCALE * v), result.numExamples);
      else acc.add(delta, result.numExamples);
    }
    global = applyDelta(global, acc.finish());
  }
  writeWeights(model, global);
  return evaluate(model, test, shape);
}

// Norm clipping needs a bound: the median honest update norm of a clean first round is a fair, known value.
const norms: number[] = [];
for (let c = 0; c < CLIENTS; c++) {
  writeWeights(model, initial);
  const r = await trainLocally(model, data[c]!, task.training, { inputShape: shape, numClasses: 2 });
  norms.push(l2Norm(subtractWeights(r.weights, initial)));
}
const clip = norms.sort((a, b) => a - b)[CLIENTS >> 1]!;

const runs: [string, Strategy, boolean][] = [
  ['fedavg, no attackers', fedAvg, false],
  ['fedavg', fedAvg, true],
  [`fedavg + clipping at ${clip.toFixed(2)}`, withNormClipping(fedAvg, clip), true],
  ['median', median, true],
  ['trimmed-mean (β 0.2)', trimmedMean, true],
  ['krum', krum, true],
  ['multi-krum', multiKrum, true],
];
console.log(`\nPoisoning: fraud task, ${CLIENTS} clients, ${HOSTILE.size} hostile (sign flip × ${SCALE}), ${ROUNDS} rounds; held-out set of ${test.count}\n`);
console.log('strategy                          AUC     F1   accuracy');
for (const [name, strategy, attack] of runs) {
  const started = performance.now();
  const e = await run(strategy, attack);
  console.log(`${name.padEnd(32)}  ${(e.auc ?? NaN).toFixed(3)}  ${(e.f1 ?? NaN).toFixed(3)}  ${(e.accuracy * 100).toFixed(1).padStart(6)} %   (${((performance.now() - started) / 1000).toFixed(0)} s)`);
}
