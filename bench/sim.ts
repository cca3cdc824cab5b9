/**
 * Simulator benchmark: how fast the simulator runs a federation and how much memory it takes, with 100 and
 * with 1,000 clients (the FedAvg paper's 2NN on the digits task, wasm backend, C = 0.1, E = 1, B = 10,
 * iid, whole-model downloads so that no client keeps a model). Client updates per second, samples trained
 * per second, and the process's peak resident memory,
 * which should grow with the clients' data, not with the rounds. Then the digits CNN on the cpu backend
 * against wasm (with the project's convolution filter gradient). Writes bench/results/sim.json.
 *
 * Options (environment): SIM_BENCH_CLIENTS ("100,1000"), SIM_BENCH_ROUNDS (5).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { inputShape } from '../src/core/features.ts';
import { parsePartitionSpec } from '../src/core/partition.ts';
import { loadTaskFile } from '../src/coordinator/task-file.ts';
import { loadSimData } from '../src/sim/datasets.ts';
import { mlp2nnTask } from '../src/sim/experiments.ts';
import { simulate } from '../src/sim/simulation.ts';
import { useBackend } from '../src/sim/backend.ts';

const SIZES = (process.env.SIM_BENCH_CLIENTS ?? '100,1000').split(',').map(Number);
const ROUNDS = Number(process.env.SIM_BENCH_ROUNDS ?? 5);

await useBackend('wasm');
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
  const records = await simulate({ task, clients: data.clients, test: data.test, inputShape: inputShape(task.input), perRound, rounds: ROUNDS, seed: 1, downloads: 'full' }, () => (peak = Math.max(peak, process.memoryUsage().rss)));
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
// The digits CNN, one round of 2 clients, on the pure-JS cpu backend and on wasm with the filter gradient
// src/model/wasm-conv-grad.ts supplies: the same run, the same numbers, the speed apart.
const cnn: Record<string, number>[] = [];
for (const backend of ['cpu', 'wasm']) {
  await useBackend(backend);
  const task = { ...base, rounds: { minClients: 1, targetClients: 2, deadlineMs: 3_600_000 }, maxExamplesPerClient: Number.MAX_SAFE_INTEGER };
  const data = loadSimData(task, { clients: 20, partition: parsePartitionSpec('iid'), holdout: 0, seed: 1 });
  const [r] = await simulate({ task, clients: data.clients, test: data.test, inputShape: inputShape(task.input), perRound: 2, rounds: 1, seed: 1 }, () => undefined);
  cnn.push({ samplesPerSecond: r!.samplesPerSecond, accuracy: r!.accuracy });
}
console.log('\nDigits CNN (≈ 21 k parameters), one round of 2 clients × 450 digits, E = 2, B = 32, Adam\n');
console.log('| backend | samples/s | held-out accuracy after the round |');
console.log('|---|---|---|');
['cpu', 'wasm'].forEach((b, i) => console.log(`| ${b} | ${Math.round(cnn[i]!.samplesPerSecond!)} | ${(cnn[i]!.accuracy! * 100).toFixed(1)} % |`));
console.log(`\nwasm ÷ cpu: ${(cnn[1]!.samplesPerSecond! / cnn[0]!.samplesPerSecond!).toFixed(0)}×`);
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/sim.json', JSON.stringify({ mlp: rows, cnn: { cpu: cnn[0], wasm: cnn[1] } }, null, 1));
