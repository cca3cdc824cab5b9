/**
 * `npm run sim:batch`: what a larger local batch costs in learning, and what it saves in time. The digits
 * task's CNN as shipped (E=2, Adam, lr 0.002), 100 clients, 10 a round, on `iid` and on `labels:2`, the same
 * seed and rounds with batch 16, 32 (the task's), 64 and 128. Learning is the held-out accuracy per round;
 * time is each round's local training on a GPU, modelled from issue 14's measurements of this model on an
 * H100/H200 through Dawn (41 ms a step at batch 32, 106 at 128: a step costs ≈ 19.6 + 0.68·B ms) and on a
 * browser's CPU backend (samples a second independent of the batch: no gain). Writes results/batch/.
 *
 * Environment: BATCH_ROUNDS (15), BATCH_SEED (1), BATCH_OUT.
 */
import { join, resolve } from 'node:path';
import { inputShape } from '../core/features.ts';
import { parsePartitionSpec } from '../core/partition.ts';
import { loadTaskFile } from '../coordinator/task-file.ts';
import type { TaskDefinition } from '../coordinator/task.ts';
import { useBackend } from './backend.ts';
import { loadSimData } from './datasets.ts';
import { publishTable, runExperiment, writeRun } from './report.ts';
import { simulate } from './simulation.ts';
import { renderPlot } from './plot.ts';
import { writeFileSync } from 'node:fs';

const ROUNDS = Number(process.env.BATCH_ROUNDS ?? 15);
const SEED = Number(process.env.BATCH_SEED ?? 1);
const OUT = resolve(process.env.BATCH_OUT ?? 'results/batch');
const BATCHES = [16, 32, 64, 128];
const PARTITIONS = ['iid', 'labels:2'];
const CLIENTS = 100;
const PER_ROUND = 10;

/** Milliseconds a step of the digits CNN on a real GPU through WebGPU, fitted to issue 14's two measurements. */
export const gpuStepMs = (batch: number) => 19.6 + 0.68 * batch;

interface Result {
  partition: string;
  batch: number;
  accuracy: number[];
  /** Mean local training seconds per client and round on the GPU model. */
  gpuS: number;
}

function taskFor(batch: number): TaskDefinition {
  const base = loadTaskFile('tasks/digits.json');
  return {
    ...base,
    training: { ...base.training, personalization: undefined, batchSize: batch },
    strategy: 'fedavg',
    rounds: { minClients: 1, targetClients: PER_ROUND, deadlineMs: 365 * 24 * 3600_000 },
    maxExamplesPerClient: Number.MAX_SAFE_INTEGER,
  };
}

async function run(partition: string, batch: number): Promise<Result> {
  const task = taskFor(batch);
  const data = loadSimData(task, { clients: CLIENTS, partition: parsePartitionSpec(partition), holdout: 0, seed: SEED });
  const accuracy: number[] = [];
  const records = await simulate(
    { task, clients: data.clients, test: data.test, inputShape: inputShape(task.input), perRound: PER_ROUND, rounds: ROUNDS, seed: SEED, onEvaluated: (_r, m) => accuracy.push(m.accuracy) },
    () => undefined,
  );
  writeRun(join(OUT, partition.replace(':', '-'), `B${batch}`), records, { label: `${partition} B=${batch}`, batch, partition, seed: SEED });
  const meanExamples = data.clients.reduce((n, c) => n + c.train.count, 0) / data.clients.length;
  const steps = task.training.epochs * Math.ceil(meanExamples / batch);
  return { partition, batch, accuracy, gpuS: (steps * gpuStepMs(batch)) / 1000 };
}

const firstAt = (xs: number[], target: number) => {
  const i = xs.findIndex((x) => x >= target);
  return i < 0 ? `> ${xs.length}` : String(i + 1);
};

async function main(): Promise<void> {
  await useBackend('wasm');
  const results: Result[] = [];
  for (const partition of PARTITIONS) {
    for (const batch of BATCHES) {
      const r = await run(partition, batch);
      results.push(r);
      process.stderr.write(`${partition} B=${batch}: ${(r.accuracy.at(-1)! * 100).toFixed(1)} % after ${ROUNDS} rounds\n`);
    }
    const mine = results.filter((r) => r.partition === partition);
    writeFileSync(join(OUT, `plot-${partition.replace(':', '-')}.svg`), renderPlot(mine.map((r) => ({ label: `B=${r.batch}`, points: r.accuracy.map((a, i) => [i + 1, a] as [number, number]) })), { title: `digits CNN, ${partition}, E=2: held-out accuracy by local batch`, xLabel: 'round', yLabel: 'accuracy' }));
  }
  const lines = [
    `Digits CNN, ${CLIENTS} clients, ${PER_ROUND} a round, E=2, Adam lr 0.002, seed ${SEED}; local time per client-round on a GPU from the fitted step time (19.6 + 0.68·B ms), on a CPU backend unchanged by the batch.`,
    '',
    '| partition | batch | accuracy after 5 rounds | after ' + ROUNDS + ' | rounds to 90 % | rounds to 95 % | GPU s a client-round | GPU time vs B=32 |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    const base = results.find((x) => x.partition === r.partition && x.batch === 32)!;
    lines.push(`| ${r.partition} | ${r.batch} | ${(r.accuracy[4]! * 100).toFixed(1)} % | ${(r.accuracy.at(-1)! * 100).toFixed(1)} % | ${firstAt(r.accuracy, 0.9)} | ${firstAt(r.accuracy, 0.95)} | ${r.gpuS.toFixed(2)} | ${(r.gpuS / base.gpuS).toFixed(2)}× |`);
  }
  publishTable(OUT, lines.join('\n') + '\n');
}

runExperiment(main);
