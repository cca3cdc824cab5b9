/**
 * `npm run sim -- [flags]`: a simulated federation (simulation.ts) from the command line, with a progress
 * line, and in `--out`: rounds.json, rounds.csv, plot.svg (held-out accuracy per round) and run.json (the
 * configuration, the partition's label counts, the backend and totals). The same flags and seed give the
 * same numbers.
 *
 *   --task digits|fraud|path.json   --model mlp:H1,H2,…|digits-cnn|path/model.json   --clients 100
 *   --fraction 0.1   --rounds 300   --partition iid|labels:K|shards:S|dirichlet:α   --strategy fedavg|median|…
 *   --epochs 1   --batch 10|full   --lr 0.1   --optimizer sgd|adam   --mu 0 (FedProx)   --holdout 0.15
 *   --server-optimizer none|fedavgm|fedadam|fedyogi|fedadagrad   --server-lr η
 *   --personalize all|last:K   --personal-epochs 1   (each client also fine-tunes a personal copy and scores it)
 *   --codec f32|f16|int8|topk:ρ|topk-int8:ρ (the upload's codec; top-k with error feedback)
 *   --downloads delta|full (the model as a delta from the version a client holds, as browsers do; or whole)
 *   --dp central|local --clip S --noise z --delta δ [--max-epsilon ε] [--adaptive-clip]   (ε per round in rounds.json)
 *   --secagg [--neighbours k] [--threshold 0.6] [--dropout 0.3] --clip S   (secure aggregation; a share of
 *     each round's clients drops out at a random phase; bytes and time of the protocol in rounds.json)
 *   --mode sync|buffered  --heterogeneity  (simulated time, timed.ts: devices of heavy-tailed speed and online
 *     stretches with --heterogeneity, alike and always online without; rounds.json gains simTimeS)
 *     --buffer K --max-staleness S --staleness sqrt|constant|poly:a|hinge:a,b --concurrency C (default ⌈1.3 × per round⌉,
 *     a synchronous round's places)  --deadline-s 120 (a round's deadline; a buffer's lease)  --max-sim-s 36000
 *   --target 0.95 (stop once reached)   --seed 1   --backend wasm|cpu (default wasm, convolutions included)
 *   --out results/NAME   --label NAME
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CODEC_NAMES, codecFor } from '../core/codecs/index.ts';
import { inputShape } from '../core/features.ts';
import { parseTrainingConfig } from '../core/protocol.ts';
import { parsePartitionSpec } from '../core/partition.ts';
import { getServerOptimizer } from '../core/optimizers/index.ts';
import { serverOptimizerConfig } from '../core/server-optimizer.ts';
import { getStrategy } from '../core/strategies/index.ts';
import { DEFAULT_MAX_STALENESS, loadTaskFile, readPrivacy, readSecureAggregation } from '../coordinator/task-file.ts';
import { privateTrainingConfig, type PrivacyPolicy, type TaskDefinition } from '../coordinator/task.ts';
import { ValidationError } from '../core/validate.ts';
import { buildModel, type ModelSource } from '../model/models.ts';
import { loadSimData } from './datasets.ts';
import { useBackend } from './backend.ts';
import { describePartition, writeRun } from './report.ts';
import { simulate, trainingFor, type RoundRecord } from './simulation.ts';
import { simulateTimed } from './timed.ts';
import { HETEROGENEOUS, UNIFORM } from './devices.ts';
import { maxAssignments } from '../coordinator/round-machine.ts';
import { describeStaleness, readStaleness, type StalenessFunction } from '../core/staleness.ts';

const { values: flags } = parseArgs({
  options: {
    task: { type: 'string', default: 'digits' },
    model: { type: 'string' },
    clients: { type: 'string', default: '100' },
    fraction: { type: 'string', default: '0.1' },
    rounds: { type: 'string', default: '100' },
    partition: { type: 'string', default: 'iid' },
    strategy: { type: 'string' },
    epochs: { type: 'string' },
    batch: { type: 'string' },
    lr: { type: 'string' },
    optimizer: { type: 'string' },
    mu: { type: 'string' },
    'server-optimizer': { type: 'string' },
    personalize: { type: 'string' },
    codec: { type: 'string' },
    downloads: { type: 'string', default: 'delta' },
    dp: { type: 'string' },
    clip: { type: 'string' },
    noise: { type: 'string' },
    delta: { type: 'string', default: '1e-5' },
    'max-epsilon': { type: 'string' },
    'adaptive-clip': { type: 'boolean', default: false },
    secagg: { type: 'boolean', default: false },
    neighbours: { type: 'string' },
    threshold: { type: 'string' },
    dropout: { type: 'string' },
    'personal-epochs': { type: 'string' },
    'server-lr': { type: 'string' },
    holdout: { type: 'string', default: '0.15' },
    target: { type: 'string' },
    seed: { type: 'string', default: '1' },
    backend: { type: 'string' },
    out: { type: 'string' },
    label: { type: 'string' },
    quiet: { type: 'boolean', default: false },
    mode: { type: 'string' },
    heterogeneity: { type: 'boolean', default: false },
    buffer: { type: 'string' },
    'max-staleness': { type: 'string' },
    staleness: { type: 'string' },
    concurrency: { type: 'string' },
    'deadline-s': { type: 'string', default: '120' },
    'max-sim-s': { type: 'string', default: '36000' },
  },
});

const number = (name: keyof typeof flags, min: number, integer = false): number => {
  const v = Number(flags[name]);
  if (!Number.isFinite(v) || v < min || (integer && !Number.isInteger(v))) throw new Error(`--${name} must be ${integer ? 'an integer' : 'a number'} ≥ ${min}, got "${String(flags[name])}"`);
  return v;
};
const optional = (name: keyof typeof flags, min: number, integer = false) => (flags[name] === undefined ? undefined : number(name, min, integer));

function modelSource(text: string): ModelSource {
  if (text === 'digits-cnn') return { builtin: 'digits-cnn' };
  const mlp = /^mlp:(\d+(?:,\d+)*)$/.exec(text);
  if (mlp) return { builtin: 'mlp', hidden: mlp[1]!.split(',').map(Number) };
  if (text.endsWith('.json')) return { layersModel: resolve(text) };
  throw new Error(`--model "${text}": use mlp:H1,H2,…, digits-cnn or a path to a model.json`);
}

function configure(): { task: TaskDefinition } {
  const path = flags.task!.endsWith('.json') ? flags.task! : join('tasks', `${flags.task}.json`);
  const base = loadTaskFile(path);
  const source = flags.model ? modelSource(flags.model) : undefined;
  if (flags.strategy) getStrategy(flags.strategy); // an unknown name fails here, listing the known ones
  if (flags.codec !== undefined && !codecFor(flags.codec)) throw new Error(`--codec "${flags.codec}": use ${CODEC_NAMES}`);
  if (flags.downloads !== 'delta' && flags.downloads !== 'full') throw new Error(`--downloads must be delta or full, got "${flags.downloads}"`);
  const batch = flags.batch === 'full' ? Number.MAX_SAFE_INTEGER : optional('batch', 1, true);
  const training = trainingFor(base.training, {
    epochs: optional('epochs', 1, true),
    batchSize: batch,
    learningRate: optional('lr', 0),
    optimizer: flags.optimizer === undefined ? undefined : flags.optimizer === 'adam' ? 'adam' : flags.optimizer === 'sgd' ? 'sgd' : failOptimizer(),
    proximalMu: optional('mu', 0),
    codec: flags.codec,
    personalization: flags.personalize === undefined ? undefined : { epochs: optional('personal-epochs', 1, true) ?? 1, layers: flags.personalize },
  });
  // Personalization only when asked for here, whatever the task file says: it is an extra epoch per client.
  if (flags.personalize === undefined) delete training.personalization;
  else parseTrainingConfig(training); // "last:K" or "all", else it fails here
  const shape = inputShape(base.input);
  const optimizerName = flags['server-optimizer'];
  const serverLr = optional('server-lr', Number.MIN_VALUE);
  const serverOptimizer = optimizerName === undefined ? base.serverOptimizer : optimizerName === 'none' ? undefined : serverOptimizerConfig(optimizerName, serverLr === undefined ? {} : { lr: serverLr });
  if (serverOptimizer) getServerOptimizer(serverOptimizer); // an unknown name fails here
  const privacy = readPrivacyFlags(Math.max(1, Math.round(number('fraction', 0) * number('clients', 1, true))));
  const task: TaskDefinition = {
    ...base,
    ...(privacy ? { privacy } : {}),
    training: privacy ? privateTrainingConfig(training, privacy) : training,
    serverOptimizer,
    strategy: flags.strategy ?? base.strategy,
    buildModel: source ? (seed) => buildModel(source, shape, base.labels.length, seed) : base.buildModel,
    // A simulated client trains for as long as it needs, and its claimed example count is its real one.
    maxExamplesPerClient: Number.MAX_SAFE_INTEGER,
  };
  return { task };
}

/**
 * `--dp central|local --clip S --noise z --delta δ [--max-epsilon ε] [--adaptive-clip]`, checked by the task
 * file's own reader (`--adaptive-clip` takes Andrew et al.'s defaults for a round of `expectedClients`).
 */
function readPrivacyFlags(expectedClients: number): PrivacyPolicy | undefined {
  if (flags.dp === undefined) {
    if ((flags.clip !== undefined && !flags.secagg) || flags.noise !== undefined || flags['adaptive-clip']) throw new Error('--noise and --adaptive-clip need --dp central or --dp local; --clip needs --dp or --secagg');
    return undefined;
  }
  const block = { mode: flags.dp, clipNorm: number('clip', Number.MIN_VALUE), noiseMultiplier: number('noise', 0), delta: number('delta', Number.MIN_VALUE), maxEpsilon: optional('max-epsilon', Number.MIN_VALUE), adaptiveClipping: flags['adaptive-clip'] };
  try {
    return readPrivacy(block, flags.strategy ?? 'fedavg', undefined, expectedClients);
  } catch (e) {
    if (e instanceof ValidationError) throw new Error(`--dp: ${e.message}`, { cause: e });
    throw e;
  }
}

/** `sqrt`, `constant`, `poly:a` or `hinge:a,b`. */
function stalenessFlag(text: string | undefined): StalenessFunction {
  const poly = /^poly:([\d.]+)$/.exec(text ?? '');
  const hinge = /^hinge:([\d.]+),(\d+)$/.exec(text ?? '');
  const value = poly ? { kind: 'polynomial', exponent: Number(poly[1]) } : hinge ? { kind: 'hinge', a: Number(hinge[1]), b: Number(hinge[2]) } : text;
  try {
    return readStaleness(value, 'staleness');
  } catch (e) {
    if (e instanceof ValidationError) throw new Error('--staleness must be sqrt, constant, poly:a or hinge:a,b', { cause: e });
    throw e;
  }
}

function failOptimizer(): never {
  throw new Error(`--optimizer must be sgd or adam, got "${flags.optimizer}"`);
}

async function main(): Promise<void> {
  const { task } = configure();
  const backend = flags.backend ?? 'wasm';
  await useBackend(backend);
  const clients = number('clients', 1, true);
  const perRound = Math.max(1, Math.round(number('fraction', 0) * clients));
  const rounds = number('rounds', 1, true);
  const seed = number('seed', 0, true);
  const partitionSpec = parsePartitionSpec(flags.partition!);
  const data = loadSimData(task, { clients, partition: partitionSpec, holdout: number('holdout', 0), seed });
  task.rounds = { minClients: 1, targetClients: perRound, deadlineMs: 365 * 24 * 3600_000 };
  if (flags.secagg) {
    // A secure round needs enough survivors to rebuild secrets: half the cohort, at least 2.
    task.rounds.minClients = Math.max(2, Math.floor(perRound / 2));
    const block = { threshold: optional('threshold', 0.51), neighbours: optional('neighbours', 2, true) ?? null, clipNorm: task.privacy?.clipNorm ?? number('clip', Number.MIN_VALUE) };
    try {
      task.secureAggregation = readSecureAggregation(block, { strategy: task.strategy, clipNorm: task.clipNorm, privacy: task.privacy, codec: 'f32', targetClients: perRound });
    } catch (e) {
      if (e instanceof ValidationError) throw new Error(`--secagg: ${e.message}`, { cause: e });
      throw e;
    }
    task.training = { ...task.training, codec: 'f32', clipNorm: task.secureAggregation.clipNorm };
  } else if (flags.dropout !== undefined || flags.neighbours !== undefined) throw new Error('--dropout and --neighbours need --secagg');
  const timed = flags.mode !== undefined || flags.heterogeneity;
  if (!timed && (flags.buffer ?? flags['max-staleness'] ?? flags.staleness ?? flags.concurrency) !== undefined) throw new Error('--buffer, --max-staleness, --staleness and --concurrency need --mode buffered');
  if (timed) {
    if (flags.secagg || flags.dp) throw new Error('--mode and --heterogeneity run without --secagg and --dp');
    const deadlineMs = number('deadline-s', 1) * 1000;
    task.rounds = { minClients: 1, targetClients: perRound, deadlineMs, leaseMs: deadlineMs };
    if (flags.mode === 'buffered') {
      const size = optional('buffer', 1, true) ?? perRound;
      task.rounds = { minClients: size, targetClients: size, deadlineMs, leaseMs: deadlineMs, buffer: { size, maxStaleness: optional('max-staleness', 0, true) ?? DEFAULT_MAX_STALENESS, staleness: stalenessFlag(flags.staleness), concurrency: optional('concurrency', 1, true) ?? maxAssignments(perRound) } };
    } else if (flags.mode !== undefined && flags.mode !== 'sync') throw new Error(`--mode must be sync or buffered, got "${flags.mode}"`);
  }
  const b = task.rounds.buffer;
  const label = flags.label ?? (timed ? (b ? `buffered K=${b.size} C=${b.concurrency} ${describeStaleness(b.staleness)}` : `sync ${perRound}/round C=${maxAssignments(perRound)}`) : `${task.strategy} ${flags.partition} E=${task.training.epochs} B=${flags.batch ?? task.training.batchSize}`);
  const log = (line: string) => process.stderr.write(line + '\n');
  log(`covey sim: task ${task.id}, ${clients} clients (${perRound} a round), partition ${flags.partition}, ${task.strategy}${task.serverOptimizer ? ` + ${task.serverOptimizer.name} (η ${task.serverOptimizer.lr})` : ''}, E=${task.training.epochs} B=${flags.batch ?? task.training.batchSize} lr=${task.training.learningRate} ${task.training.optimizer}${task.training.proximalMu ? ` μ=${task.training.proximalMu}` : ''}, codec ${task.training.codec}, downloads ${flags.downloads}${task.secureAggregation ? `, secure aggregation (${task.secureAggregation.neighbours ?? 'all'} neighbours, threshold ${task.secureAggregation.threshold}, dropout ${flags.dropout ?? 0})` : ''}${task.privacy ? `, DP S=${task.privacy.clipNorm} z=${task.privacy.noiseMultiplier} δ=${task.privacy.delta}` : ''}, backend ${backend}, seed ${seed}`);
  log(describePartition(data.labelCounts));

  const started = performance.now();
  const target = optional('target', 0);
  const downloads = flags.downloads as 'delta' | 'full';
  const dropout = optional('dropout', 0);
  if (dropout !== undefined && dropout >= 1) throw new Error('--dropout must be below 1');
  const progress = (r: RoundRecord) => {
    if (flags.quiet) return;
    const elapsed = (performance.now() - started) / 1000;
    const eta = (elapsed / r.round) * (rounds - r.round);
    const bar = '█'.repeat(Math.round((r.round / rounds) * 24)).padEnd(24, '·');
    const line = `${bar} round ${r.round}/${rounds}  accuracy ${(r.accuracy * 100).toFixed(1)} %${r.epsilon === null ? '' : `  ε ${r.epsilon.toFixed(2)}`}${r.federatedAccuracy === null ? '' : `  federated ${(r.federatedAccuracy * 100).toFixed(1)} %`}${r.personalAccuracy === null ? '' : `  personal ${(r.personalAccuracy * 100).toFixed(1)} %`}  ${elapsed.toFixed(0)} s, ETA ${eta.toFixed(0)} s`;
    const clock = r.simTimeS === undefined ? '' : `  t ${(r.simTimeS / 60).toFixed(1)} min`;
    process.stderr.write(process.stderr.isTTY ? `\r${line}${clock}` : r.round % 10 === 0 || r.round === rounds ? `${line}${clock}\n` : '');
  };
  const records = timed
    ? await simulateTimed({ task, clients: data.clients, test: data.test, inputShape: inputShape(task.input), devices: flags.heterogeneity ? HETEROGENEOUS : UNIFORM, seed, maxSimS: number('max-sim-s', 1), maxVersions: rounds, ...(target === undefined ? {} : { targetAccuracy: target }) }, progress)
    : await simulate({ task, clients: data.clients, test: data.test, inputShape: inputShape(task.input), perRound, rounds, seed, targetAccuracy: target, downloads, ...(dropout === undefined ? {} : { dropout }) }, progress);
  if (process.stderr.isTTY) process.stderr.write('\n');
  const reached = target === undefined ? undefined : records.find((r) => r.accuracy >= target)?.round ?? null;
  const last = records[records.length - 1]!;
  const mean = (f: (r: (typeof records)[number]) => number) => records.reduce((a, r) => a + f(r), 0) / records.length;
  const reachedAtS = target === undefined ? undefined : records.find((r) => r.accuracy >= target)?.simTimeS ?? null;
  const totals = { simTimeS: last.simTimeS ?? null, simTimeToTargetS: reachedAtS ?? null, rounds: records.length, bytesUpPerClientRound: mean((r) => r.bytesUp), bytesDownPerClientRound: mean((r) => r.bytesDown), finalAccuracy: last.accuracy, bestAccuracy: Math.max(...records.map((r) => r.accuracy)), roundsToTarget: reached, wallS: (performance.now() - started) / 1000 };
  log(`done: ${totals.rounds} rounds in ${totals.wallS.toFixed(0)} s${totals.simTimeS === null ? '' : ` (${(totals.simTimeS / 60).toFixed(1)} simulated minutes${totals.simTimeToTargetS === null ? '' : `, the target at ${(totals.simTimeToTargetS / 60).toFixed(1)}`})`}, ${Math.round(totals.bytesUpPerClientRound)} B up and ${Math.round(totals.bytesDownPerClientRound)} B down per client-round, held-out accuracy ${(last.accuracy * 100).toFixed(1)} % (best ${(totals.bestAccuracy * 100).toFixed(1)} %)${target === undefined ? '' : `, target ${(target * 100).toFixed(1)} % ${reached ? `reached in round ${reached}` : 'not reached'}`}`);
  if (flags.out) {
    const out = resolve(flags.out);
    writeRun(out, records, { label, task: task.id, mode: timed ? (b ? 'buffered' : 'sync') : 'rounds', heterogeneity: flags.heterogeneity, rounds: task.rounds, model: flags.model ?? 'task', clients, perRound, partition: flags.partition, strategy: task.strategy, serverOptimizer: task.serverOptimizer ?? null, training: task.training, downloads, holdout: Number(flags.holdout), seed, backend, target, totals, labelCounts: data.labelCounts });
    log(`wrote ${out}/{rounds.json,rounds.csv,run.json,plot.svg}`);
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
