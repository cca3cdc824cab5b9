/**
 * `npm run sim:heterogeneity`: what helps when people's data differ. The 2NN on the digits task, 100
 * clients, C = 0.1, E = 1, B = 10, on `dirichlet:0.1` and `labels:2`: FedAvg against FedProx (two values
 * of μ), FedAvgM and FedAdam, for the same rounds from the same seed. Prints held-out accuracy after the
 * last round, the best, rounds to a target, and the clients' federated accuracy (on their own held-out
 * 15 %), and writes results/heterogeneity/ (a folder per run, a plot per partition, table.md).
 *
 * Every client also fine-tunes a personal copy of the model it received (its last two layers, one epoch)
 * and scores both on its held-out part: personal against global accuracy.
 *
 * Environment: HETERO_ROUNDS (100), HETERO_TARGET (0.9), HETERO_LR (0.05), HETERO_SEED (1), HETERO_OUT.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { serverOptimizerConfig } from '../core/server-optimizer.ts';
import { loadTaskFile } from '../coordinator/task-file.ts';
import { runSpec, type RunResult, type RunSpec } from './experiments.ts';
import { publishTable, runExperiment } from './report.ts';
import { renderPlot } from './plot.ts';
import { useBackend } from './backend.ts';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const ROUNDS = env('HETERO_ROUNDS', 100);
const TARGET = env('HETERO_TARGET', 0.9);
const LR = env('HETERO_LR', 0.05);
const SEED = env('HETERO_SEED', 1);
const OUT = resolve(process.env.HETERO_OUT ?? 'results/heterogeneity');

const METHODS: { name: string; over: Pick<RunSpec, 'training'> & Partial<Pick<RunSpec, 'serverOptimizer'>> }[] = [
  { name: 'FedAvg', over: { training: {} } },
  { name: 'FedProx μ=0.01', over: { training: { proximalMu: 0.01 } } },
  { name: 'FedProx μ=0.1', over: { training: { proximalMu: 0.1 } } },
  { name: 'FedAvgM (η=1, β=0.9)', over: { training: {}, serverOptimizer: serverOptimizerConfig('fedavgm', { lr: 1, beta1: 0.9 }) } },
  { name: 'FedAdam (η=0.01)', over: { training: {}, serverOptimizer: serverOptimizerConfig('fedadam', { lr: 0.01 }) } },
];

async function main(): Promise<void> {
  await useBackend('wasm');
  const base = loadTaskFile('tasks/digits.json');
  const results: RunResult[] = [];
  for (const partition of ['dirichlet:0.1', 'labels:2']) {
    for (const m of METHODS) {
      const spec: RunSpec = { label: `${partition} ${m.name}`, partition, training: { epochs: 1, batchSize: 10, learningRate: LR, personalization: { epochs: 1, layers: 'last:2' }, ...m.over.training }, ...(m.over.serverOptimizer ? { serverOptimizer: m.over.serverOptimizer } : {}), clients: 100, perRound: 10, maxRounds: ROUNDS, holdout: 0.15, seed: SEED, target: TARGET };
      // Run every round (no early stop at the target), so that accuracies after R rounds compare.
      const run = await runSpec(base, { ...spec, target: undefined }, join(OUT, `${partition.replace(':', '')}-${m.name.replace(/[^A-Za-z0-9.]+/g, '').toLowerCase()}`), (line) => process.stderr.write(`${line}\n`));
      const reached = run.records.find((r) => r.accuracy >= TARGET)?.round ?? null;
      results.push({ ...run, spec, roundsToTarget: reached });
      process.stderr.write(`${spec.label}: ${(run.records.at(-1)!.accuracy * 100).toFixed(1)} % after ${run.records.length} rounds (${run.wallS.toFixed(0)} s)\n`);
    }
  }
  mkdirSync(OUT, { recursive: true });
  for (const partition of ['dirichlet:0.1', 'labels:2']) {
    const series = results.filter((r) => r.spec.partition === partition).map((r) => ({ label: r.spec.label.slice(partition.length + 1), points: r.records.map((x) => [x.round, x.accuracy] as [number, number]) }));
    writeFileSync(join(OUT, `plot-${partition.replace(':', '')}.svg`), renderPlot(series, { title: `MNIST 2NN, 100 clients, C = 0.1, E = 1, B = 10, ${partition}`, xLabel: 'round', yLabel: 'held-out accuracy', marks: [{ y: TARGET, label: `${TARGET * 100} %` }] }));
  }
  const pct = (x: number | null | undefined) => (x === null || x === undefined ? '—' : `${(x * 100).toFixed(1)} %`);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const lines = [
    `${ROUNDS} rounds each, the same seed (${SEED}); clients hold out 15 % of their examples, on which they score the model they receive (global) and their fine-tuned copy (personal); both columns are means over the last 10 rounds.`,
    '',
    `| partition | method | held-out accuracy after ${ROUNDS} rounds | best | rounds to ${TARGET * 100} % | clients' held-out: global model | clients' held-out: personal model | wall time |`,
    '|---|---|---|---|---|---|---|---|',
    ...results.map((r) => {
      const last = r.records.at(-1)!;
      const lastTen = (key: 'federatedAccuracy' | 'personalAccuracy') => {
        const xs = r.records.slice(-10).map((x) => x[key]).filter((x): x is number => x !== null);
        return xs.length ? pct(mean(xs)) : '—';
      };
      return `| ${r.spec.partition} | ${r.spec.label.slice(r.spec.partition.length + 1)} | ${pct(last.accuracy)} | ${pct(Math.max(...r.records.map((x) => x.accuracy)))} | ${r.roundsToTarget ?? `> ${ROUNDS}`} | ${lastTen('federatedAccuracy')} | ${lastTen('personalAccuracy')} | ${r.wallS.toFixed(0)} s |`;
    }),
  ];
  const table = lines.join('\n') + '\n';
  publishTable(OUT, table);
}

runExperiment(main);
