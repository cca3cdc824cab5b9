/**
 * `npm run sim:privacy`: what central differential privacy costs in accuracy, and what it buys in ε. The
 * 2NN on the digits task, 100 clients, 10 a round (C = 0.1), E = 1, B = 10, SGD 0.05, `iid`, DP-FedAvg with
 * clip norm S and noise multipliers z ∈ {0, 0.5, 1, 2}, the same rounds from the same seed; then 1,000
 * clients, 100 a round, without DP, at z = 1, at z = 1 with adaptive clipping (Andrew et al. 2021: the clip norm
 * follows the median update norm, from the paper's defaults), and in local mode at z = 1 and z = 0.3 (each
 * client noises its own update; the noise on the mean is √n times central mode's). ε is the
 * coordinator's own accounting at δ = 1e-5: the sampling rate of each round is its updates over the clients
 * seen so far (so the first rounds, with few clients seen, cost the most). Writes results/privacy/ and
 * prints the table.
 *
 * Environment: PRIVACY_ROUNDS (40), PRIVACY_CLIP (1), PRIVACY_SEED (1), PRIVACY_OUT.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { inputShape } from '../core/features.ts';
import { parsePartitionSpec } from '../core/partition.ts';
import { loadTaskFile, readPrivacy } from '../coordinator/task-file.ts';
import { privateTrainingConfig } from '../coordinator/task.ts';
import { useBackend } from './backend.ts';
import { loadSimData } from './datasets.ts';
import { mlp2nnTask } from './experiments.ts';
import { renderPlot } from './plot.ts';
import { publishTable, runExperiment, writeRun } from './report.ts';
import { simulate } from './simulation.ts';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const ROUNDS = env('PRIVACY_ROUNDS', 40);
const CLIP = env('PRIVACY_CLIP', 1);
const SEED = env('PRIVACY_SEED', 1);
const OUT = resolve(process.env.PRIVACY_OUT ?? 'results/privacy');
const DELTA = 1e-5;

async function main(): Promise<void> {
  await useBackend('wasm');
  const base = loadTaskFile('tasks/digits.json');
  const rows: { label: string; noise: number | null; accuracy: number[]; epsilon: number | null; clip: number | null; wallS: number }[] = [];
  type Run = { noise: number | null; clients: number; mode?: 'central' | 'local'; adaptive?: boolean };
  const runs: Run[] = [
    ...[null, 0, 0.5, 1, 2].map((noise) => ({ noise, clients: 100 })),
    { noise: null, clients: 1000 },
    { noise: 1, clients: 1000 },
    { noise: 1, clients: 1000, adaptive: true },
    { noise: 1, clients: 1000, mode: 'local' },
    { noise: 0.3, clients: 1000, mode: 'local' },
  ];
  for (const { noise, clients, mode = 'central', adaptive = false } of runs) {
    const perRound = clients / 10;
    const how = noise === null ? 'no DP' : `${mode === 'local' ? 'local, ' : ''}z = ${noise}${adaptive ? ', adaptive clipping' : ''}`;
    const spec = { label: `${clients} clients, ${how}`, partition: 'iid', training: { epochs: 1, batchSize: 10, learningRate: 0.05 }, clients, perRound, maxRounds: ROUNDS, holdout: 0, seed: SEED };
    const plain = mlp2nnTask(base, spec);
    const privacy = noise === null ? undefined : readPrivacy({ mode, clipNorm: CLIP, noiseMultiplier: noise, delta: DELTA, adaptiveClipping: adaptive }, 'fedavg', undefined, perRound);
    const task = privacy ? { ...plain, privacy, training: privateTrainingConfig(plain.training, privacy) } : plain;
    const data = loadSimData(task, { clients, partition: parsePartitionSpec('iid'), holdout: 0, seed: SEED });
    const started = performance.now();
    const records = await simulate({ task, clients: data.clients, test: data.test, inputShape: inputShape(task.input), perRound, rounds: ROUNDS, seed: SEED, downloads: 'full' }, () => undefined);
    const wallS = (performance.now() - started) / 1000;
    writeRun(join(OUT, spec.label.replace(/[^a-z0-9.]+/gi, '_')), records, { ...spec, clipNorm: CLIP, noise, delta: DELTA, wallS });
    const row = { label: spec.label, noise, accuracy: records.map((r) => r.accuracy), epsilon: records.at(-1)!.epsilon, clip: records.at(-1)!.clipNorm, wallS };
    rows.push(row);
    process.stderr.write(`${row.label}: ${(row.accuracy.at(-1)! * 100).toFixed(1)} % after ${ROUNDS} rounds, ε ${row.epsilon === null ? '—' : row.epsilon.toFixed(2)} (${wallS.toFixed(0)} s)\n`);
  }
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, 'plot.svg'), renderPlot(rows.map((r) => ({ label: `${r.label}${r.epsilon === null ? '' : `, ε ${Number.isFinite(r.epsilon) ? r.epsilon.toFixed(1) : '∞'}`}`, points: r.accuracy.map((a, i) => [i + 1, a] as [number, number]) })), { title: `MNIST 2NN, C = 0.1, DP-FedAvg S = ${CLIP}`, xLabel: 'round', yLabel: 'held-out accuracy' }));
  const mean5 = (xs: number[]) => xs.slice(-5).reduce((a, b) => a + b, 0) / Math.min(5, xs.length);
  const table = [
    `${ROUNDS} rounds, seed ${SEED}, clip norm S = ${CLIP}, δ = ${DELTA}; accuracy is the mean of the last 5 rounds.`,
    '',
    '| cohort and noise multiplier z | ε after the last round | held-out accuracy | clip norm at the end | wall time |',
    '|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.label} | ${r.noise === null ? '— (no DP)' : r.epsilon !== null && Number.isFinite(r.epsilon) ? r.epsilon.toFixed(2) : '∞ (no noise)'} | ${(mean5(r.accuracy) * 100).toFixed(1)} % | ${r.clip === null ? '—' : r.clip.toPrecision(3)} | ${r.wallS.toFixed(0)} s |`),
  ].join('\n') + '\n';
  publishTable(OUT, table);
}

runExperiment(main);
