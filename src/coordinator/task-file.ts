/**
 * Task files: a federated task as configuration. JSON, paths relative to the file; see tasks/*.json and
 * README "Define your own task". `parseTaskFile` checks every field and names the first one that is wrong.
 *
 *   id, name, description      the task's identity (id: 2–32 of a–z, 0–9, -)
 *   input                      image {shape, scale} or tabular {columns, labelColumn} (core/features.ts)
 *   labels                     class names; tabular labels are their index in the label column
 *   model                      {builtin: "digits-cnn"} | {builtin: "mlp", hidden: [..]} | {layersModel: "path/model.json"}
 *   training                   {epochs, batchSize, learningRate, optimizer, codec, classWeights?}
 *   rounds                     {minClients, targetClients, deadlineS, assignmentLeaseS?}, or buffered (FedBuff):
 *                              {mode: "buffered", bufferSize, maxStaleness?, staleness?, concurrency?, assignmentLeaseS?}
 *   strategy                   fedavg | median | trimmed-mean | krum | multi-krum, or {name, clipNorm}
 *   serverOptimizer            optional: fedavgm | fedadam | fedyogi | fedadagrad, or {name, lr, beta1, beta2, tau}
 *   maxUpdateNorm              optional: updates with a larger L2 norm are refused
 *   maxExamplesPerClient       optional: the most examples an update is weighted by (claims above are clamped)
 *   evaluation                 optional: {testSet: "path", format: "records" | "csv", metrics: [accuracy|auc|f1, …]}
 *   secureAggregation          optional: {threshold?, neighbours?, curve?, clipNorm?, phaseS?} (fedavg, f32; see core/secagg)
 *   privacy                    optional: {mode: central|local, clipNorm, noiseMultiplier, delta, maxEpsilon?, adaptiveClipping?} (with strategy fedavg)
 *   conditions                 optional: {charging?, unmetered?, idle?}: devices train only while these hold
 *   allowedOrigins             origins whose pages may join through the SDK
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { CODEC_NAMES, codecFor } from '../core/codecs/index.ts';
import { parseCsv } from '../core/csv.ts';
import { decodeRecords } from '../core/example-records.ts';
import { encodeRow, featureCount, inputShape, parseInputSpec, type InputSpec } from '../core/features.ts';
import { asTaskId } from '../core/ids.ts';
import { METRIC_NAMES, parseTrainingConfig, readConditionsObject, type MetricName } from '../core/protocol.ts';
import { serverOptimizers } from '../core/optimizers/index.ts';
import { serverOptimizerConfig, type ServerOptimizerConfig } from '../core/server-optimizer.ts';
import { strategies } from '../core/strategies/index.ts';
import { adaptiveClippingDefaults, updateNoiseMultiplier, type AdaptiveClipping } from '../core/privacy/adaptive-clip.ts';
import { ValidationError, asObject, readNumber, readOneOf, readOptionalNumber, readString, type Fields } from '../core/validate.ts';
import type { ExampleBatch } from '../model/tf-model.ts';
import { buildModel, type ModelSource } from '../model/models.ts';
import { privateTrainingConfig, type PrivacyPolicy, type SecureAggregationPolicy, type TaskDefinition } from './task.ts';
import { maxAssignments } from './round-machine.ts';
import { CURVE_CHOICES } from '../core/secagg/protocol.ts';
import { readStaleness } from '../core/staleness.ts';

/** Reads and checks a task file; relative paths in it are resolved against its folder. */
export function loadTaskFile(path: string): TaskDefinition {
  return parseTaskFile(readTaskJson(path), dirname(resolve(path)));
}

/** A task file's JSON, not yet checked; a ValidationError when it is not readable JSON. */
export function readTaskJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ValidationError('file', `${path} is not readable JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export function parseTaskFile(json: unknown, baseDir: string): TaskDefinition {
  const o = asObject(json, 'task');
  const id = readString(o, 'id');
  if (!/^[a-z0-9][a-z0-9-]{1,31}$/.test(id)) throw new ValidationError('id', 'must be 2–32 characters of a–z, 0–9 and -, starting with a letter or digit');
  const input = parseInputSpec(o.input);
  const labels = readLabels(o.labels);
  const model = readModel(o.model, baseDir);
  const training = parseTrainingConfig(o.training);
  if (!codecFor(training.codec)) throw new ValidationError('training.codec', `unknown codec "${training.codec}"; known: ${CODEC_NAMES}`);
  if (training.classWeights && training.classWeights.length !== labels.length) throw new ValidationError('training.classWeights', `must have one weight per label (${labels.length})`);
  const { strategy, clipNorm } = readStrategy(o.strategy);
  const serverOptimizer = o.serverOptimizer === undefined ? undefined : readServerOptimizer(o.serverOptimizer);
  const maxUpdateNorm = o.maxUpdateNorm === undefined ? undefined : readNumber(o, 'maxUpdateNorm', { min: Number.MIN_VALUE });
  const maxExamplesPerClient = o.maxExamplesPerClient === undefined ? undefined : readNumber(o, 'maxExamplesPerClient', { min: 1, max: 1e7, integer: true });
  const evaluation = readEvaluation(o.evaluation, baseDir, input, labels.length);
  const rounds = readRounds(o.rounds);
  const privacy = o.privacy === undefined ? undefined : readPrivacy(o.privacy, strategy, clipNorm, rounds.targetClients);
  if (privacy?.adaptiveClipping && rounds.buffer) {
    throw new ValidationError('privacy.adaptiveClipping', 'a buffered task takes updates clipped to older versions\' clip norms, which adaptive clipping changes from version to version: use a fixed clipNorm, or synchronous rounds');
  }
  if (privacy && codecFor(training.codec)!.needsErrorFeedback) {
    throw new ValidationError('training.codec', `${training.codec} carries a residual from round to round, which clipping does not bound; with privacy use f32, f16 or int8`);
  }
  const secureAggregation = o.secureAggregation === undefined ? undefined : readSecureAggregation(o.secureAggregation, { strategy, clipNorm, privacy, codec: training.codec, targetClients: rounds.targetClients, buffered: rounds.buffer !== undefined });
  return {
    id: asTaskId(id),
    name: readString(o, 'name'),
    description: readString(o, 'description'),
    input,
    labels,
    buildModel: (seed) => buildModel(model, inputShape(input), labels.length, seed),
    // With DP the clients are told the clip norm (and local noise): they clip before the update leaves the device.
    training: privacy ? privateTrainingConfig(training, privacy) : training,
    rounds,
    strategy,
    ...(clipNorm === undefined ? {} : { clipNorm }),
    ...(serverOptimizer === undefined ? {} : { serverOptimizer }),
    ...(maxUpdateNorm === undefined ? {} : { maxUpdateNorm }),
    ...(maxExamplesPerClient === undefined ? {} : { maxExamplesPerClient }),
    ...(privacy === undefined ? {} : { privacy }),
    ...(secureAggregation === undefined ? {} : { secureAggregation }),
    ...(o.conditions === undefined ? {} : { conditions: readConditionsObject(o.conditions, 'conditions') }),
    metrics: evaluation.metrics,
    allowedOrigins: readOrigins(o.allowedOrigins),
    ...(evaluation.load ? { loadTestSet: evaluation.load } : {}),
  };
}

function readLabels(value: unknown): string[] {
  if (!Array.isArray(value) || value.length < 2 || !value.every((l) => typeof l === 'string' && l.length > 0)) {
    throw new ValidationError('labels', 'must be a list of at least two names');
  }
  return value as string[];
}

function readModel(value: unknown, baseDir: string): ModelSource {
  const o = asObject(value, 'model');
  if (o.layersModel !== undefined) {
    const path = resolvePath(readString(o, 'layersModel', 'model.layersModel'), baseDir);
    if (!existsSync(path)) throw new ValidationError('model.layersModel', `no file at ${path}`);
    return { layersModel: path };
  }
  const builtin = readOneOf(o, 'builtin', ['digits-cnn', 'mlp'] as const, 'model.builtin');
  if (builtin === 'digits-cnn') return { builtin };
  const hidden = o.hidden;
  if (!Array.isArray(hidden) || !hidden.every((u) => Number.isInteger(u) && u > 0 && u <= 4096)) {
    throw new ValidationError('model.hidden', 'must be a list of layer sizes (1–4096)');
  }
  return { builtin, hidden: hidden as number[] };
}

/**
 * `{"mode": "central", "clipNorm": 1, "noiseMultiplier": 1.1, "delta": 1e-5, "maxEpsilon": 8}`, or
 * `"mode": "local"`, and in central mode `"adaptiveClipping": true` (the paper's defaults) or
 * `{"targetQuantile", "learningRate", "countNoise"}`. Private tasks sum clipped updates with equal weights
 * (DP-FedAvg): a robust strategy, which looks at single updates and weights them unequally, would break the
 * sensitivity the noise is calibrated to.
 */
export function readPrivacy(value: unknown, strategy: string, clipNorm: number | undefined, expectedClients: number): PrivacyPolicy {
  const o = asObject(value, 'privacy');
  const mode = readOneOf(o, 'mode', ['central', 'local'] as const, 'privacy.mode');
  if (strategy !== 'fedavg' || clipNorm !== undefined) throw new ValidationError('strategy', 'differential privacy needs plain "fedavg" (it sums clipped updates with equal weights; a robust strategy or a second clip norm would break the noise calibration)');
  const maxEpsilon = o.maxEpsilon === undefined ? undefined : readNumber(o, 'maxEpsilon', { min: Number.MIN_VALUE, max: 1e3 }, 'privacy.maxEpsilon');
  const noiseMultiplier = readNumber(o, 'noiseMultiplier', { min: 0, max: 1e3 }, 'privacy.noiseMultiplier');
  const adaptiveClipping = o.adaptiveClipping === undefined || o.adaptiveClipping === false ? undefined : readAdaptiveClipping(o.adaptiveClipping, mode, noiseMultiplier, expectedClients);
  return {
    mode,
    clipNorm: readNumber(o, 'clipNorm', { min: Number.MIN_VALUE, max: 1e6 }, 'privacy.clipNorm'),
    noiseMultiplier,
    delta: readNumber(o, 'delta', { min: Number.MIN_VALUE, max: 0.1 }, 'privacy.delta'),
    ...(maxEpsilon === undefined ? {} : { maxEpsilon }),
    ...(adaptiveClipping === undefined ? {} : { adaptiveClipping }),
  };
}

function readAdaptiveClipping(value: unknown, mode: PrivacyPolicy['mode'], noiseMultiplier: number, expectedClients: number): AdaptiveClipping {
  // Locally noised updates hide whether they were within the clip norm; the bit would need its own local noise.
  if (mode !== 'central') throw new ValidationError('privacy.adaptiveClipping', 'works in central mode only');
  const defaults = adaptiveClippingDefaults(expectedClients);
  const o = value === true ? {} : asObject(value, 'privacy.adaptiveClipping');
  const a: AdaptiveClipping = {
    targetQuantile: readOptionalNumber(o, 'targetQuantile', { min: 0, max: 1 }, 'privacy.adaptiveClipping.targetQuantile') ?? defaults.targetQuantile,
    learningRate: readOptionalNumber(o, 'learningRate', { min: 0, max: 10 }, 'privacy.adaptiveClipping.learningRate') ?? defaults.learningRate,
    countNoise: readOptionalNumber(o, 'countNoise', { min: 0, max: 1e6 }, 'privacy.adaptiveClipping.countNoise') ?? defaults.countNoise,
  };
  try {
    updateNoiseMultiplier(noiseMultiplier, a.countNoise);
  } catch (e) {
    throw new ValidationError('privacy.adaptiveClipping.countNoise', (e as Error).message);
  }
  return a;
}

/**
 * `{"threshold": 0.6, "neighbours": null, "curve": "auto", "clipNorm": 1, "phaseS": 30}`. The coordinator sees
 * only the sum, so what needs single updates is refused: a robust strategy, strategy-level clipping, adaptive
 * clipping (a bit per update), local DP (with secure aggregation the clients add central DP's noise between
 * them). The masked vector travels as 32-bit words whatever the codec, so the codec must be f32.
 */
export function readSecureAggregation(value: unknown, task: { strategy: string; clipNorm: number | undefined; privacy: PrivacyPolicy | undefined; codec: string; targetClients: number; buffered?: boolean }): SecureAggregationPolicy {
  const o = asObject(value, 'secureAggregation');
  if (task.buffered) throw new ValidationError('rounds.mode', 'secure aggregation needs its clients online together through its phases, and a buffered task\'s clients come and go one at a time: use synchronous rounds');
  if (task.strategy !== 'fedavg' || task.clipNorm !== undefined) throw new ValidationError('strategy', 'secure aggregation hides single updates, which a robust strategy or strategy-level clipping needs: use plain "fedavg"');
  if (task.privacy?.mode === 'local') throw new ValidationError('privacy.mode', 'with secure aggregation use "central": the clients add its noise between them (distributed DP), and no one sees a single update');
  if (task.privacy?.adaptiveClipping) throw new ValidationError('privacy.adaptiveClipping', 'adaptive clipping needs a bit from each update, which secure aggregation hides');
  if (task.codec !== 'f32') throw new ValidationError('training.codec', 'with secure aggregation the masked update travels as 32-bit words: set "f32"');
  const neighbours = o.neighbours === undefined || o.neighbours === null ? null : readNumber(o, 'neighbours', { integer: true, min: 2, max: 252 }, 'secureAggregation.neighbours');
  if (neighbours === null && maxAssignments(task.targetClients) > 255) throw new ValidationError('secureAggregation.neighbours', `a round of ${maxAssignments(task.targetClients)} places shares among everyone, and Shamir over GF(256) has at most 255 holders: set neighbours (SecAgg+), such as 32`);
  const clip = o.clipNorm === undefined ? task.privacy?.clipNorm : readNumber(o, 'clipNorm', { min: Number.MIN_VALUE, max: 1e6 }, 'secureAggregation.clipNorm');
  if (clip === undefined) throw new ValidationError('secureAggregation.clipNorm', 'is required (or privacy.clipNorm): it bounds what each client adds, and so the quantization');
  if (task.privacy && clip !== task.privacy.clipNorm) throw new ValidationError('secureAggregation.clipNorm', 'must be privacy.clipNorm when both are given');
  return {
    threshold: readOptionalNumber(o, 'threshold', { min: 0.51, max: 1 }, 'secureAggregation.threshold') ?? 0.6,
    neighbours,
    curve: o.curve === undefined ? 'auto' : readOneOf(o, 'curve', CURVE_CHOICES, 'secureAggregation.curve'),
    clipNorm: clip,
    phaseMs: (readOptionalNumber(o, 'phaseS', { min: 1, max: 3600 }, 'secureAggregation.phaseS') ?? 30) * 1000,
  };
}

/** `"median"`, or `{"name": "fedavg", "clipNorm": 5}` for norm clipping in front of the strategy. */
function readStrategy(value: unknown): { strategy: string; clipNorm?: number } {
  const o: Fields = typeof value === 'string' ? { name: value } : asObject(value, 'strategy');
  const name = readString(o, 'name', typeof value === 'string' ? 'strategy' : 'strategy.name');
  if (!strategies[name]) throw new ValidationError(typeof value === 'string' ? 'strategy' : 'strategy.name', `unknown strategy "${name}"; known: ${Object.keys(strategies).join(', ')}`);
  const clipNorm = o.clipNorm === undefined ? undefined : readNumber(o, 'clipNorm', { min: Number.MIN_VALUE }, 'strategy.clipNorm');
  return { strategy: name, ...(clipNorm === undefined ? {} : { clipNorm }) };
}

/** `"fedadam"`, or `{"name": "fedadam", "lr": 0.01, "beta1": 0.9, "beta2": 0.99, "tau": 0.001}`. */
function readServerOptimizer(value: unknown): ServerOptimizerConfig {
  const o: Fields = typeof value === 'string' ? { name: value } : asObject(value, 'serverOptimizer');
  const name = readString(o, 'name', typeof value === 'string' ? 'serverOptimizer' : 'serverOptimizer.name');
  if (!serverOptimizers[name]) throw new ValidationError('serverOptimizer', `unknown server optimizer "${name}"; known: ${Object.keys(serverOptimizers).join(', ')}`);
  const num = (key: string, min: number, max: number) => (o[key] === undefined ? undefined : readNumber(o, key, { min, max }, `serverOptimizer.${key}`));
  const over = { lr: num('lr', Number.MIN_VALUE, 100), beta1: num('beta1', 0, 0.9999), beta2: num('beta2', 0, 0.9999), tau: num('tau', Number.MIN_VALUE, 10) };
  return serverOptimizerConfig(name, Object.fromEntries(Object.entries(over).filter(([, v]) => v !== undefined)));
}

/** The default lease of a buffered task's assignment: time for a browser to download and train the model. */
export const DEFAULT_BUFFER_LEASE_S = 300;
/** A buffered task's defaults: updates up to this many versions old are taken, and this many clients per buffer place train at once. */
export const DEFAULT_MAX_STALENESS = 10;
export const DEFAULT_CONCURRENCY_PER_PLACE = 4;

function readRounds(value: unknown): TaskDefinition['rounds'] {
  const o = asObject(value, 'rounds');
  const mode = o.mode === undefined ? 'sync' : readOneOf(o, 'mode', ['sync', 'buffered'] as const, 'rounds.mode');
  if (mode === 'buffered') return readBuffered(o);
  const targetClients = readNumber(o, 'targetClients', { integer: true, min: 1, max: 100_000 }, 'rounds.targetClients');
  const minClients = readNumber(o, 'minClients', { integer: true, min: 1, max: targetClients }, 'rounds.minClients');
  const deadlineS = readNumber(o, 'deadlineS', { min: 1, max: 7 * 24 * 3600 }, 'rounds.deadlineS');
  const leaseS = o.assignmentLeaseS === undefined ? undefined : readNumber(o, 'assignmentLeaseS', { min: 1, max: deadlineS }, 'rounds.assignmentLeaseS');
  return { minClients, targetClients, deadlineMs: Math.round(deadlineS * 1000), ...(leaseS === undefined ? {} : { leaseMs: Math.round(leaseS * 1000) }) };
}

/**
 * `{"mode": "buffered", "bufferSize": K, "maxStaleness": S, "staleness": "sqrt", "concurrency": C}`.
 * Defaults: S = 10 versions, 1/√(1+τ), C = 4K (FedBuff ran C = 100K; with C/K clients training per version
 * the typical update is about C/K versions old, so S = 10 refuses only the stragglers), lease 300 s.
 */
function readBuffered(o: Fields): TaskDefinition['rounds'] {
  for (const key of ['minClients', 'targetClients', 'deadlineS'] as const) {
    if (o[key] !== undefined) throw new ValidationError(`rounds.${key}`, 'a buffered task has no rounds of clients: it publishes every bufferSize updates (remove this field)');
  }
  const size = readNumber(o, 'bufferSize', { integer: true, min: 1, max: 100_000 }, 'rounds.bufferSize');
  const maxStaleness = o.maxStaleness === undefined ? DEFAULT_MAX_STALENESS : readNumber(o, 'maxStaleness', { integer: true, min: 0, max: 10_000 }, 'rounds.maxStaleness');
  const concurrency = o.concurrency === undefined ? DEFAULT_CONCURRENCY_PER_PLACE * size : readNumber(o, 'concurrency', { integer: true, min: 1, max: 1_000_000 }, 'rounds.concurrency');
  const leaseS = o.assignmentLeaseS === undefined ? DEFAULT_BUFFER_LEASE_S : readNumber(o, 'assignmentLeaseS', { min: 1, max: 7 * 24 * 3600 }, 'rounds.assignmentLeaseS');
  const buffer = { size, maxStaleness, concurrency, staleness: readStaleness(o.staleness, 'rounds.staleness') };
  return { minClients: size, targetClients: size, deadlineMs: Math.round(leaseS * 1000), leaseMs: Math.round(leaseS * 1000), buffer };
}

function readOrigins(value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new ValidationError('allowedOrigins', 'must be a list of origins');
  return value.map((v, i) => {
    const field = `allowedOrigins[${i}]`;
    if (typeof v !== 'string') throw new ValidationError(field, 'must be a string');
    let url: URL;
    try {
      url = new URL(v);
    } catch {
      throw new ValidationError(field, `"${v}" is not an origin like https://example.org`);
    }
    if (url.origin !== v || !/^https?:$/.test(url.protocol)) throw new ValidationError(field, `"${v}" must be exactly an origin: scheme://host[:port], no path`);
    return v;
  });
}

/**
 * `{testSet, format, metrics}`; without `testSet` (and `format`) the coordinator evaluates nothing itself,
 * and the clients' federated evaluation is the task's measure (`metrics` defaults to accuracy then).
 */
function readEvaluation(value: unknown, baseDir: string, input: InputSpec, classes: number): { metrics: MetricName[]; load?: () => ExampleBatch } {
  const o: Fields = value === undefined ? {} : asObject(value, 'evaluation');
  if (o.testSet === undefined) {
    if (o.format !== undefined) throw new ValidationError('evaluation.testSet', 'is needed with a format');
    return { metrics: ['accuracy'] };
  }
  const path = resolvePath(readString(o, 'testSet', 'evaluation.testSet'), baseDir);
  const format = readOneOf(o, 'format', ['records', 'csv'] as const, 'evaluation.format');
  if (format === 'records' && input.kind !== 'image') throw new ValidationError('evaluation.format', '"records" test sets are for image inputs');
  if (format === 'csv' && input.kind !== 'tabular') throw new ValidationError('evaluation.format', '"csv" test sets are for tabular inputs');
  const metrics = o.metrics;
  if (!Array.isArray(metrics) || metrics.length === 0 || !metrics.every((m) => METRIC_NAMES.includes(m as MetricName))) {
    throw new ValidationError('evaluation.metrics', `must list some of ${METRIC_NAMES.join(', ')}`);
  }
  if (classes !== 2 && metrics.some((m) => m !== 'accuracy')) throw new ValidationError('evaluation.metrics', 'auc and f1 need exactly two labels');
  return { metrics: metrics as MetricName[], load: () => (format === 'records' ? readRecordsFile(path, input) : readCsvFile(path, input, classes)) };
}

function resolvePath(p: string, baseDir: string): string {
  return isAbsolute(p) ? p : resolve(baseDir, p);
}

/** A records file (core/example-records.ts) as a batch: uint8 features scaled by the input's scale. */
export function readRecordsFile(path: string, input: InputSpec): ExampleBatch {
  if (input.kind !== 'image') throw new Error('records files hold image examples');
  const n = featureCount(input);
  const examples = decodeRecords(new Uint8Array(readFileSync(path)), n);
  const features = new Float32Array(examples.length * n);
  examples.forEach((ex, i) => {
    for (let k = 0; k < n; k++) features[i * n + k] = ex.pixels[k]! * input.scale;
  });
  return { features, labels: Int32Array.from(examples, (ex) => ex.label), count: examples.length };
}

/** A CSV file with the task's columns and label column, encoded as the browser encodes imports. */
export function readCsvFile(path: string, input: InputSpec, classes: number): ExampleBatch {
  if (input.kind !== 'tabular') throw new Error('CSV files hold tabular examples');
  const { rows } = parseCsv(readFileSync(path, 'utf8'));
  const n = featureCount(input);
  const features = new Float32Array(rows.length * n);
  const labels = new Int32Array(rows.length);
  rows.forEach((row, i) => {
    encodeRow(input, row, features.subarray(i * n, (i + 1) * n));
    const label = Number(row[input.labelColumn]);
    if (!Number.isInteger(label) || label < 0 || label >= classes) throw new ValidationError(`${path} line ${i + 2}`, `label "${row[input.labelColumn]}" is not 0–${classes - 1}`);
    labels[i] = label;
  });
  return { features, labels, count: rows.length };
}
