/**
 * `npm run sim:codecs`: what each codec costs and saves. For the digits task's 2NN (199 k parameters) and CNN
 * (20.5 k), each on `iid` and `labels:2`, and the fraud task (12 natural clients), the same rounds from the
 * same seed with: f32 and whole-model downloads (Covey before codecs), then with model downloads as deltas,
 * f32, f16, int8, topk:0.01, topk-int8:0.01 and topk-int8:0.03 uploads (top-k with error feedback). The bytes are the bodies
 * that travelled per client-round, as the simulator counts them (the update frame up; the model delta, or
 * weights.bin, down). Writes results/codecs/ (a folder per run, plots, table.md) and prints the table.
 *
 * Environment: CODECS_ROUNDS (40; the CNN and fraud runs 30), CODECS_SEED (1), CODECS_ONLY (a config name
 * to run alone: 2nn-iid, 2nn-labels2, cnn-iid, cnn-labels2, fraud), CODECS_OUT.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { inputShape } from '../core/features.ts';
import { parsePartitionSpec } from '../core/partition.ts';
import type { TrainingConfig } from '../core/protocol.ts';
import { loadTaskFile } from '../coordinator/task-file.ts';
import type { TaskDefinition } from '../coordinator/task.ts';
import { buildModel } from '../model/models.ts';
import { useBackend } from './backend.ts';
import { loadSimData } from './datasets.ts';
import { renderPlot } from './plot.ts';
import { writeRun } from './report.ts';
import { simulate, type RoundRecord } from './simulation.ts';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const ROUNDS = env('CODECS_ROUNDS', 40);
const SEED = env('CODECS_SEED', 1);
const OUT = resolve(process.env.CODECS_OUT ?? 'results/codecs');

interface Config {
  name: string;
  task: 'digits' | 'fraud';
  model: '2nn' | 'task';
  partition: string;
  clients: number;
  perRound: number;
  rounds: number;
  training: Partial<TrainingConfig>;
  /** The headline metric: accuracy, or AUC for fraud (rare positives make accuracy meaningless). */
  metric: 'accuracy' | 'auc';
}

const CONFIGS: Config[] = [
  { name: '2nn-iid', task: 'digits', model: '2nn', partition: 'iid', clients: 100, perRound: 10, rounds: ROUNDS, training: { epochs: 1, batchSize: 10, learningRate: 0.05, optimizer: 'sgd' }, metric: 'accuracy' },
  { name: '2nn-labels2', task: 'digits', model: '2nn', partition: 'labels:2', clients: 100, perRound: 10, rounds: ROUNDS, training: { epochs: 1, batchSize: 10, learningRate: 0.05, optimizer: 'sgd' }, metric: 'accuracy' },
  { name: 'cnn-iid', task: 'digits', model: 'task', partition: 'iid', clients: 50, perRound: 5, rounds: Math.min(ROUNDS, 30), training: {}, metric: 'accuracy' },
  { name: 'cnn-labels2', task: 'digits', model: 'task', partition: 'labels:2', clients: 50, perRound: 5, rounds: Math.min(ROUNDS, 30), training: {}, metric: 'accuracy' },
  { name: 'fraud', task: 'fraud', model: 'task', partition: 'iid', clients: 12, perRound: 4, rounds: Math.min(ROUNDS, 30), training: {}, metric: 'auc' },
];

const CODECS: { label: string; codec: string; downloads: 'delta' | 'full' }[] = [
  { label: 'f32, whole model down', codec: 'f32', downloads: 'full' },
  { label: 'f32', codec: 'f32', downloads: 'delta' },
  { label: 'f16', codec: 'f16', downloads: 'delta' },
  { label: 'int8', codec: 'int8', downloads: 'delta' },
  { label: 'topk:0.01', codec: 'topk:0.01', downloads: 'delta' },
  { label: 'topk-int8:0.01', codec: 'topk-int8:0.01', downloads: 'delta' },
  { label: 'topk-int8:0.03', codec: 'topk-int8:0.03', downloads: 'delta' },
];

interface Result {
  config: Config;
  label: string;
  records: RoundRecord[];
  /** The headline metric per round. */
  metric: number[];
  wallS: number;
}

function taskFor(config: Config, codec: string): TaskDefinition {
  const base = loadTaskFile(`tasks/${config.task}.json`);
  const shape = inputShape(base.input);
  return {
    ...base,
    ...(config.model === '2nn' ? { buildModel: (seed: number) => buildModel({ builtin: 'mlp', hidden: [200, 200] }, shape, base.labels.length, seed) } : {}),
    training: { ...base.training, personalization: undefined, ...config.training, codec },
    strategy: 'fedavg',
    rounds: { minClients: 1, targetClients: config.perRound, deadlineMs: 365 * 24 * 3600_000 },
    maxExamplesPerClient: Number.MAX_SAFE_INTEGER,
  };
}

async function run(config: Config, c: (typeof CODECS)[number]): Promise<Result> {
  const task = taskFor(config, c.codec);
  const data = loadSimData(task, { clients: config.clients, partition: parsePartitionSpec(config.partition), holdout: 0, seed: SEED });
  const metric: number[] = [];
  const started = performance.now();
  const records = await simulate(
    {
      task, clients: data.clients, test: data.test, inputShape: inputShape(task.input), perRound: config.perRound, rounds: config.rounds, seed: SEED, downloads: c.downloads,
      onEvaluated: (_round, m) => metric.push(config.metric === 'auc' ? (m.auc ?? NaN) : m.accuracy),
    },
    () => undefined,
  );
  const wallS = (performance.now() - started) / 1000;
  writeRun(join(OUT, config.name, c.label.replace(/[^A-Za-z0-9.-]+/g, '_')), records, { label: `${config.name} ${c.label}`, config, codec: c.codec, downloads: c.downloads, seed: SEED, wallS });
  return { config, label: c.label, records, metric, wallS };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const kB = (bytes: number) => (bytes >= 1e5 ? `${(bytes / 1000).toFixed(0)} kB` : `${(bytes / 1000).toFixed(1)} kB`);

function table(results: Result[]): string {
  const lines = [
    `Per client-round, mean bytes of body; the headline metric (accuracy, AUC for fraud) after the last round and the mean of the last 5 rounds, and its difference from f32 with delta downloads (points). Seed ${SEED}.`,
    '',
    '| task | codec | bytes up | up vs f32 | bytes down | down vs whole model | one delta vs whole model | metric, last round | mean of last 5 | vs f32 (points) | wall time |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const config of CONFIGS) {
    const mine = results.filter((r) => r.config === config);
    const f32 = mine.find((r) => r.label === 'f32');
    const whole = mine.find((r) => r.label.startsWith('f32, whole'));
    for (const r of mine) {
      const up = mean(r.records.map((x) => x.bytesUp));
      const down = mean(r.records.map((x) => x.bytesDown));
      const last5 = mean(r.metric.slice(-5));
      const ratio = (a: number, b: number | undefined) => (b === undefined ? '—' : `1/${(b / a).toFixed(1)}`);
      const points = f32 ? ((last5 - mean(f32.metric.slice(-5))) * 100).toFixed(2) : '—';
      const deltas = r.records.filter((x) => x.bytesPerDelta !== null);
      const perDelta = deltas.length ? deltas.reduce((a, x) => a + x.bytesPerDelta! * x.downloads.delta, 0) / deltas.reduce((a, x) => a + x.downloads.delta, 0) : undefined;
      const wholeModel = whole && mean(whole.records.map((x) => x.bytesDown));
      lines.push(`| ${config.name} (${config.metric}) | ${r.label} | ${kB(up)} | ${ratio(up, f32 && mean(f32.records.map((x) => x.bytesUp)))} | ${kB(down)} | ${ratio(down, wholeModel)} | ${perDelta === undefined ? '—' : ratio(perDelta, wholeModel)} | ${(r.metric.at(-1)! * 100).toFixed(1)} % | ${(last5 * 100).toFixed(1)} % | ${points} | ${r.wallS.toFixed(0)} s |`);
    }
  }
  return lines.join('\n') + '\n';
}

async function main(): Promise<void> {
  await useBackend('wasm');
  const only = process.env.CODECS_ONLY;
  const results: Result[] = [];
  mkdirSync(OUT, { recursive: true });
  for (const config of CONFIGS.filter((c) => !only || c.name === only)) {
    for (const c of CODECS) {
      const r = await run(config, c);
      results.push(r);
      process.stderr.write(`${config.name} ${c.label}: ${(r.metric.at(-1)! * 100).toFixed(1)} % after ${r.records.length} rounds, ${Math.round(mean(r.records.map((x) => x.bytesUp)))} B up, ${Math.round(mean(r.records.map((x) => x.bytesDown)))} B down (${r.wallS.toFixed(0)} s)\n`);
    }
    const series = results.filter((r) => r.config === config).map((r) => ({ label: r.label, points: r.metric.map((m, i) => [i + 1, m] as [number, number]) }));
    writeFileSync(join(OUT, `plot-${config.name}.svg`), renderPlot(series, { title: `${config.name}: ${config.clients} clients, ${config.perRound} a round, ${config.partition}`, xLabel: 'round', yLabel: `held-out ${config.metric}` }));
    writeFileSync(join(OUT, 'table.md'), table(results));
  }
  console.log(`\n${table(results)}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});
