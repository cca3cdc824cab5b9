/**
 * Simulator benchmark: how fast the simulator runs a federation and how much memory it takes, with 100 and
 * with 1,000 clients (the FedAvg paper's 2NN on the digits task, wasm backend, C = 0.1, E = 1, B = 10,
 * iid). Client updates per second, samples trained per second, and the process's peak resident memory,
 * which should grow with the clients' data, not with the rounds. Writes bench/results/sim.json.
 *
 * Options (environment): SIM_BENCH_CLIENTS ("100,1000"), SIM_BENCH_ROUNDS (5).
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { mkdirSync, writeFileSync } from 'node:fs';
import { inputShape } from '../src/core/features.ts';
import { parsePartitionSpec } from '../src/core/partition.ts';
import { loadTaskFile } from '../src/coordinator/task-file.ts';
import { loadSimData } from '../src/sim/datasets.ts';
import { mlp2nnTask } from '../src/sim/experiments.ts';
import { simulate } from '../src/sim/simulation.ts';

const SIZES = (process.env.SIM_BENCH_CLIENTS ?? '100,1000').split(',').map(Number);
const ROUNDS = Number(process.env.SIM_BENCH_ROUNDS ?? 5);

tf.env().set('PROD', true);
await tf.setBackend('wasm');
const base = loadTaskFile('tasks/digits.json');
const rows: Record<string, number>[] = [];
for (const clients of SIZES) {
  const perRound = Math.max(1, Math.round(clients * 0.1));
  const spec = { label: 'bench', partition: 'iid', training: { epochs: 1, batchSize: 10, learningRate: 0.05 }, clients, perRound, maxRounds: ROUNDS, holdout: 0.15, seed: 1 };
  const task = mlp2nnTask(base, spec);
  const data = loadSimData(task, { clients, partition: parsePartitionSpec('iid'), holdout: 0.15, seed: 1 });
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  const started = performance.now();
  const records = await simulate({ task, clients: data.clients, test: data.test, inputShape: inputShape(task.input), perRound, rounds: ROUNDS, seed: 1 }, () => (peak = Math.max(peak, process.memoryUsage().rss)));
  clearInterval(timer);
  const seconds = (performance.now() - started) / 1000;
  const updates = records.reduce((n, r) => n + r.clients, 0);
  const samples = records.reduce((n, r) => n + (r.samplesPerSecond * r.wallMs) / 1000, 0);
  rows.push({ clients, perRound, rounds: records.length, updatesPerSecond: updates / seconds, samplesPerSecond: samples / seconds, msPerRound: (seconds * 1000) / records.length, peakRssMiB: peak / 2 ** 20, examplesPerClient: data.clients[0]!.train.count });
}
console.log(`\nSimulator: MNIST 2NN (199,210 parameters), wasm backend, C = 0.1, E = 1, B = 10, iid, ${ROUNDS} rounds\n`);
console.log('| clients | per round | examples per client | client updates/s | samples/s | ms per round | peak RSS |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.clients} | ${r.perRound} | ${r.examplesPerClient} | ${r.updatesPerSecond!.toFixed(1)} | ${Math.round(r.samplesPerSecond!)} | ${Math.round(r.msPerRound!)} | ${Math.round(r.peakRssMiB!)} MiB |`);
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/sim.json', JSON.stringify(rows, null, 1));
