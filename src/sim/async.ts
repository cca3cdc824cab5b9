/**
 * `npm run sim:async`: buffered asynchronous aggregation (FedBuff) against synchronous FedAvg in simulated
 * time (timed.ts), at equal concurrency. The 2NN on the digits task, 100 clients on heterogeneous devices
 * (devices.ts: heavy-tailed speed, online stretches, one in ten rarely online), E = 2, B = 10, SGD η = 0.05.
 *
 *   synchronous   rounds of 10 updates, ⌈1.3 × 10⌉ = 13 clients training (over-selection), deadline 120 s
 *   buffered      13 clients training at any time, a version every K updates, staleness s(τ), max 10
 *
 * Runs each configuration from several seeds and reports the simulated time to the target accuracy (mean),
 * the speed-up over synchronous rounds from the same seeds, the versions and updates it took, and the
 * updates refused; the same with every device alike (no heterogeneity), where FedBuff should gain little.
 * Writes results/async/ (a folder per run, plot.svg for the first seed, table.md).
 *
 * Environment: ASYNC_TARGET (0.9), ASYNC_SEEDS (3), ASYNC_PARTITION (iid), ASYNC_OUT, ASYNC_MAX_VERSIONS (600).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { inputShape } from '../core/features.ts';
import { parsePartitionSpec } from '../core/partition.ts';
import type { StalenessFunction } from '../core/staleness.ts';
import { DEFAULT_MAX_STALENESS, loadTaskFile } from '../coordinator/task-file.ts';
import type { RoundPolicy } from '../coordinator/task.ts';
import { useBackend } from './backend.ts';
import { loadSimData } from './datasets.ts';
import { HETEROGENEOUS, UNIFORM, type DeviceModel } from './devices.ts';
import { mlp2nnTask } from './experiments.ts';
import { renderPlot } from './plot.ts';
import { publishTable, runExperiment, writeRun } from './report.ts';
import { simulateTimed } from './timed.ts';
import type { RoundRecord } from './simulation.ts';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const TARGET = env('ASYNC_TARGET', 0.9);
const SEEDS = env('ASYNC_SEEDS', 3);
const MAX_VERSIONS = env('ASYNC_MAX_VERSIONS', 600);
const PARTITION = process.env.ASYNC_PARTITION ?? 'iid';
const OUT = resolve(process.env.ASYNC_OUT ?? 'results/async');
const CLIENTS = 100;
const PER_ROUND = 10;
const CONCURRENCY = 13;
const DEADLINE_MS = 120_000;

const sqrt: StalenessFunction = { kind: 'polynomial', exponent: 0.5 };
const buffered = (size: number, staleness: StalenessFunction = sqrt): RoundPolicy => ({ minClients: size, targetClients: size, deadlineMs: DEADLINE_MS, leaseMs: DEADLINE_MS, buffer: { size, maxStaleness: DEFAULT_MAX_STALENESS, staleness, concurrency: CONCURRENCY } });
const sync: RoundPolicy = { minClients: 1, targetClients: PER_ROUND, deadlineMs: DEADLINE_MS, leaseMs: DEADLINE_MS };

const RUNS: { label: string; rounds: RoundPolicy; devices: DeviceModel }[] = [
  { label: 'synchronous FedAvg, 10 a round', rounds: sync, devices: HETEROGENEOUS },
  ...[10, 5, 3, 2].map((k) => ({ label: `buffered K=${k}, 1/sqrt(1+t)`, rounds: buffered(k), devices: HETEROGENEOUS })),
  { label: 'buffered K=3, constant', rounds: buffered(3, { kind: 'constant' }), devices: HETEROGENEOUS },
  { label: 'buffered K=3, (1+t)^-1', rounds: buffered(3, { kind: 'polynomial', exponent: 1 }), devices: HETEROGENEOUS },
  { label: 'uniform devices: synchronous', rounds: sync, devices: UNIFORM },
  { label: 'uniform devices: buffered K=3', rounds: buffered(3), devices: UNIFORM },
];

interface Row {
  label: string;
  timeToTarget: (number | null)[];
  versions: (number | null)[];
  updates: number[];
  refused: number[];
  staleness: number[];
  records: RoundRecord[];
}

async function main(): Promise<void> {
  await useBackend('wasm');
  const base = loadTaskFile('tasks/digits.json');
  const rows: Row[] = [];
  for (const run of RUNS) {
    const row: Row = { label: run.label, timeToTarget: [], versions: [], updates: [], refused: [], staleness: [], records: [] };
    for (let seed = 1; seed <= SEEDS; seed++) {
      const spec = { label: run.label, partition: PARTITION, training: { epochs: 2, batchSize: 10, learningRate: 0.05 }, clients: CLIENTS, perRound: PER_ROUND, maxRounds: MAX_VERSIONS, holdout: 0, seed };
      const task = { ...mlp2nnTask(base, spec), rounds: run.rounds, maxUpdateNorm: undefined };
      const data = loadSimData(task, { clients: CLIENTS, partition: parsePartitionSpec(PARTITION), holdout: 0, seed });
      const started = performance.now();
      const records = await simulateTimed({ task, clients: data.clients, test: data.test, inputShape: inputShape(task.input), devices: run.devices, seed, maxSimS: 24 * 3600, maxVersions: MAX_VERSIONS, targetAccuracy: TARGET }, () => undefined);
      const wallS = (performance.now() - started) / 1000;
      const hit = records.find((r) => r.accuracy >= TARGET);
      row.timeToTarget.push(hit?.simTimeS ?? null);
      row.versions.push(hit?.round ?? null);
      row.updates.push(records.reduce((n, r) => n + r.clients, 0));
      row.refused.push(records.reduce((n, r) => n + r.refused, 0));
      const stale = records.filter((r) => r.staleness);
      row.staleness.push(stale.length ? stale.reduce((a, r) => a + r.staleness!.mean, 0) / stale.length : 0);
      if (seed === 1) row.records = records;
      writeRun(join(OUT, `${run.label.replace(/[^a-z0-9.=]+/gi, '_')}-seed${seed}`), records, { ...spec, rounds: run.rounds, devices: run.devices, target: TARGET, wallS });
      process.stderr.write(`${run.label}, seed ${seed}: ${hit ? `${(hit.simTimeS! / 60).toFixed(1)} min, ${hit.round} versions` : 'target not reached'} (${wallS.toFixed(0)} s)\n`);
    }
    rows.push(row);
  }
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, 'plot.svg'), renderPlot(rows.filter((r) => !r.label.startsWith('uniform')).map((r) => ({ label: r.label, points: r.records.map((p) => [p.simTimeS! / 60, p.accuracy] as [number, number]) })), { title: `digits 2NN, ${CLIENTS} heterogeneous clients, ${CONCURRENCY} training at once (seed 1)`, xLabel: 'simulated minutes', yLabel: 'held-out accuracy', marks: [{ y: TARGET, label: `target ${(TARGET * 100).toFixed(0)} %` }] }));
  const mean = (xs: (number | null)[]) => (xs.every((x) => x !== null) ? (xs as number[]).reduce((a, b) => a + b, 0) / xs.length : null);
  const syncOf = (label: string) => rows.find((r) => r.label === (label.startsWith('uniform') ? 'uniform devices: synchronous' : 'synchronous FedAvg, 10 a round'))!;
  const speedup = (r: Row) => {
    const s = syncOf(r.label);
    const ratios = r.timeToTarget.map((t, i) => (t === null || s.timeToTarget[i] === null ? null : s.timeToTarget[i]! / t));
    return mean(ratios);
  };
  const fmt = (x: number | null, digits = 1) => (x === null ? 'not reached' : x.toFixed(digits));
  const table = [
    `Digits 2NN, ${CLIENTS} clients (${PARTITION}), E = 2, B = 10, SGD η = 0.05; ${CONCURRENCY} clients training at once in every mode; target ${(TARGET * 100).toFixed(0)} % held-out accuracy; mean of ${SEEDS} seeds (the speed-up is the mean of per-seed ratios).`,
    '',
    '| configuration | simulated minutes to target | speed-up over synchronous | versions to target | updates accepted | updates refused | mean staleness (versions) |',
    '|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.label} | ${fmt(mean(r.timeToTarget) === null ? null : mean(r.timeToTarget)! / 60)} | ${r.label.includes('synchronous') ? '1.00×' : `${fmt(speedup(r), 2)}×`} | ${fmt(mean(r.versions), 0)} | ${fmt(mean(r.updates), 0)} | ${fmt(mean(r.refused), 0)} | ${r.label.includes('synchronous') ? '—' : fmt(mean(r.staleness), 2)} |`),
  ].join('\n') + '\n';
  publishTable(OUT, table);
}

runExperiment(main);
