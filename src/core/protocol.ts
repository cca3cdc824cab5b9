/**
 * The coordinator's HTTP API, as types, and the guards that read each body. Shared by the coordinator (which
 * validates requests) and the browser client (which validates responses).
 *
 * | method | path | body → answer |
 * |---|---|---|
 * | GET | /v1/tasks | → {@link TaskSummary}[] |
 * | GET | /v1/tasks/{task} | → {@link TaskSummary} |
 * | POST | /v1/tasks/{task}/enrol/challenge | {@link ChallengeRequest} → {@link ChallengeResponse} |
 * | POST | /v1/tasks/{task}/enrol | {@link EnrolRequest} → {@link EnrolResponse} |
 * | POST | /v1/tasks/{task}/checkin | {@link CheckinRequest} → {@link CheckinResponse} (bearer token) |
 * | GET | /v1/tasks/{task}/models/{version}/model.json?lineage={lineage} | TF.js layers model (immutable) |
 * | GET | /v1/tasks/{task}/models/{version}/weights.bin?lineage={lineage} | its weights (immutable) |
 * | GET | /v1/tasks/{task}/models/{version}/delta-from/{from}?lineage={lineage} | its difference from an older version (core/model-delta.ts; immutable; 404 `no_delta`: take weights.bin) |
 * | PUT | /v1/tasks/{task}/rounds/{round}/updates/{updateId} | update frame (binary) → {@link UploadAck} (bearer token) |
 * | GET | /v1/tasks/{task}/history | → {@link HistoryPoint}[] |
 *
 * Every refusal is a 4xx or 5xx with an {@link ApiError} body.
 */
import { parseInputSpec, type InputSpec } from './features.ts';
import { isWellFormedId } from './ids.ts';
import type { UpdateMeta } from './update-frame.ts';
import type { SecAggParams } from './secagg/protocol.ts';
import {
  ValidationError,
  asObject,
  readNumber,
  readOneOf,
  readBoolean,
  readOptionalNumber,
  readOptionalString,
  readString,
  type Fields,
} from './validate.ts';

/** What the client does with the round's model: sent by the coordinator with each assignment. */
export interface TrainingConfig {
  epochs: number;
  /** The local batch; with `batchRange`, the one the simulator trains with (a browser picks its own within the range). */
  batchSize: number;
  /**
   * `"batchSize": "auto"` in a task file: each device picks its batch within [min, max] by timing training
   * steps of the model at each power of two there (worker/probe.ts `chooseBatch`), since a GPU's throughput
   * grows almost linearly with the batch. Opt-in: `npm run sim:batch` measures what larger batches cost in learning.
   */
  batchRange?: [number, number];
  learningRate: number;
  optimizer: 'sgd' | 'adam';
  /** Codec name for the upload (see core/codecs). */
  codec: string;
  /** Loss weight per class, for imbalanced tasks (fraud is rare); all 1 when absent. */
  classWeights?: number[];
  /** FedProx's μ: the client adds μ/2·‖w − w_global‖² to its loss (Li et al. 2020); absent or 0 is FedAvg. */
  proximalMu?: number;
  /**
   * Personalization: each round the client also fine-tunes a copy of the received model on its own
   * examples (`layers`: `all`, or `last:K`, the last K layers with weights) for `epochs`, keeps it, and
   * reports how it and the shared model do on its held-out examples. The copy never leaves the device.
   */
  personalization?: { epochs: number; layers: string };
  /**
   * With differential privacy: the L2 norm the client clips its update to before it leaves the device (with
   * adaptive clipping, this round's). Its presence makes the task private: the client then sends only the
   * update and what the protocol needs (no loss, accuracy, example count or evaluation).
   */
  clipNorm?: number;
  /** Local differential privacy: the client adds N(0, (localNoise·clipNorm)²) to every coordinate itself. */
  localNoise?: number;
  /** Adaptive clipping: the client reports whether its update was within `clipNorm` (UpdateMeta.withinClip). */
  reportClip?: boolean;
}

/** Held-out metrics the coordinator can compute; `auc` and `f1` need two classes (the second positive). */
export type MetricName = 'accuracy' | 'auc' | 'f1';
export const METRIC_NAMES: readonly MetricName[] = ['accuracy', 'auc', 'f1'];

export type RoundState = 'open' | 'training' | 'aggregating' | 'closed';
export const ROUND_STATES: readonly RoundState[] = ['open', 'training', 'aggregating', 'closed'];

export interface CheckinRequest {
  clientId: string;
  /** Examples the client holds for this task; a client with none is not assigned. */
  exampleCount: number;
  /** The TF.js backend the client trains on, for the operator's dashboard. */
  backend?: string;
}

export type CheckinResponse =
  | {
      status: 'assigned';
      roundId: number;
      modelVersion: number;
      /** Absolute path of the model.json to load with `tf.loadLayersModel`. */
      modelUrl: string;
      /** Absolute path to PUT the update to, with a client-made update id appended. */
      uploadUrl: string;
      config: TrainingConfig;
      /** ISO 8601 time after which the round no longer waits for this client. */
      deadline: string;
      /** Secure aggregation: the round's protocol parameters; the update goes through its phases instead of an upload. */
      secureAggregation?: SecAggParams;
    }
  | {
      status: 'wait';
      /** When to check in again (also sent as a Retry-After header, in seconds). */
      retryAfterMs: number;
      reason: string;
    };

export interface UploadAck {
  status: 'accepted';
  /** True when this update id had already been accepted: it was not counted again. */
  duplicate: boolean;
  roundId: number;
  /** Updates the round holds now. */
  received: number;
  /**
   * Buffered aggregation: how many versions the update's base was behind the model when it arrived (τ), and
   * the factor its delta counts with (s(τ)). Absent in synchronous rounds and for repeats.
   */
  staleness?: number;
  weight?: number;
}

export interface RoundSummary {
  id: number;
  state: RoundState;
  baseVersion: number;
  assigned: number;
  received: number;
  minClients: number;
  targetClients: number;
  deadline: string;
  /** Buffered aggregation (FedBuff): this "round" is a buffer of `size` updates that takes updates up to `maxStaleness` versions old. */
  buffered?: { size: number; maxStaleness: number };
}

export interface TaskSummary {
  id: string;
  name: string;
  description: string;
  /** How raw examples become model inputs (see core/features.ts). */
  input: InputSpec;
  /** Shape of one example, without the batch dimension. */
  inputShape: number[];
  /** Held-out metrics reported in the history; the first is the headline. */
  metrics: MetricName[];
  labels: string[];
  modelVersion: number;
  /** The operator paused the task: check-ins are told to wait until it is resumed. */
  paused?: boolean;
  /**
   * Secure aggregation: the coordinator only ever sums the round's masked updates. A client of such a task
   * never trains offline nor queues a plain update: its update leaves only through a secure round.
   */
  secureAggregation?: { threshold: number; neighbours: number | null; curve: string };
  /** When devices should train (client/eligibility.ts): only while charging, on an unmetered connection, while the person is idle. */
  conditions?: { charging?: boolean; unmetered?: boolean; idle?: boolean };
  /** With differential privacy: the task's mechanism, the current model's ε, and whether its budget is spent. */
  privacy?: {
    mode: 'central' | 'local';
    /** The current round's clip norm (with adaptive clipping it moves from round to round). */
    clipNorm: number;
    noiseMultiplier: number;
    delta: number;
    maxEpsilon?: number;
    adaptiveClipping?: { targetQuantile: number; learningRate: number; countNoise: number };
    /** Null while ε is unbounded (no noise, or a round trained without privacy). */
    epsilon: number | null;
    budgetSpent: boolean;
  };
  /**
   * Names this federation's history of model versions. It is part of every model URL, so a coordinator
   * started afresh (its versions counting from 0 again) never matches a version a browser cached before.
   */
  lineage: string;
  parameterCount: number;
  /** The training configuration rounds hand out: what a client uses when it trains offline. */
  config: TrainingConfig;
  round: RoundSummary | null;
}

/** One global model version and how it does on the coordinator's held-out set. */
export interface HistoryPoint {
  version: number;
  /** The round that produced it; null for the initial model. */
  roundId: number | null;
  numClients: number;
  numExamples: number;
  /** Mean local training loss the clients reported for the round. */
  clientLoss: number | null;
  /** Held-out evaluation; null until evaluated, and for a model whose outputs were not numbers (diverged). */
  accuracy: number | null;
  loss: number | null;
  /** Every held-out metric of the task (accuracy, auc, f1), once evaluated. */
  metrics: Partial<Record<MetricName, number>>;
  /**
   * Federated evaluation: this version's accuracy and loss on the held-out examples of the clients that
   * received it, weighted by their counts (reported with their updates); null until one reports.
   */
  federated: { accuracy: number; loss: number; examples: number; clients: number; personalAccuracy?: number } | null;
  /**
   * With differential privacy: the (ε, δ) guarantee of this version (every round up to it composed), the
   * sampling rate its round had (updates over the clients seen), and the mechanism's parameters.
   * `epsilonUnsampled` is what holds without the sampling assumption, for a client in every one of the
   * `rounds` private rounds. Over HTTP an unbounded ε (noise multiplier 0, or no guarantee) is `null`.
   */
  privacy?: { mode?: 'central' | 'local'; epsilon: number; epsilonUnsampled: number; rounds: number; delta: number; samplingRate: number; noiseMultiplier: number; clipNorm: number; nextClipNorm?: number };
  /** Buffered aggregation: how many versions behind its buffer's base the version's updates were (mean, max), and their mean staleness factor. */
  staleness?: { mean: number; max: number; meanWeight: number };
  createdAt: string;
}

export interface ApiError {
  error: { code: string; message: string; field?: string };
}

/** A client's ECDSA P-256 public key as a JWK (the fields WebCrypto exports that matter). */
export interface PublicKeyJwk {
  kty: 'EC';
  crv: 'P-256';
  /** The point's coordinates, 32 bytes each, base64url without padding. */
  x: string;
  y: string;
}

/** `POST /v1/tasks/{task}/enrol/challenge`: a client asks for a challenge to sign before it enrols. */
export interface ChallengeRequest {
  clientId: string;
}

/** Sign `enrolmentMessage(challenge)` and send it with the enrolment before `expiresAt`; good once. */
export interface ChallengeResponse {
  challenge: string;
  expiresAt: string;
}

/**
 * `POST /v1/tasks/{task}/enrol`: a client asks for its token. It proves it is itself with a key pair it made
 * at its first enrolment (non-extractable, kept in IndexedDB): `publicKey`, a `challenge` from
 * …/enrol/challenge and its `signature`. The first enrolment of a client id registers the key; every later
 * one must be signed with it. Without the three (a client from before keys, or a page where WebCrypto is
 * not available), only a client id with no registered key is enrolled, and only if the coordinator allows it.
 */
export interface EnrolRequest {
  clientId: string;
  proof?: EnrolmentProof;
}

export interface EnrolmentProof {
  publicKey: PublicKeyJwk;
  challenge: string;
  /** ECDSA P-256 with SHA-256 over {@link enrolmentMessage}, as WebCrypto makes it (r‖s, 64 bytes), base64url. */
  signature: string;
}

/** What a client signs to enrol: bound to the challenge, which binds the coordinator, task, client id and time. */
export function enrolmentMessage(challenge: string): string {
  return `covey-enrol-v1:${challenge}`;
}

/** The answer to an enrolment: send `token` as `Authorization: Bearer <token>` until `expiresAt`. */
export interface EnrolResponse {
  token: string;
  expiresAt: string;
}

const B64URL_32_BYTES = /^[A-Za-z0-9_-]{43}$/;

function readClientId(o: Fields): string {
  const clientId = readString(o, 'clientId');
  if (!isWellFormedId(clientId)) throw new ValidationError('clientId', 'must be 8–64 characters of A–Z, a–z, 0–9, _ or -');
  return clientId;
}

export function parseChallengeRequest(body: unknown): ChallengeRequest {
  return { clientId: readClientId(asObject(body, 'body')) };
}

export function parseChallengeResponse(body: unknown): ChallengeResponse {
  const o = asObject(body, 'challenge');
  return { challenge: readString(o, 'challenge'), expiresAt: readString(o, 'expiresAt') };
}

export function parseEnrolRequest(body: unknown): EnrolRequest {
  const o = asObject(body, 'body');
  const clientId = readClientId(o);
  if (o.proof === undefined) return { clientId };
  const p = asObject(o.proof, 'proof');
  const k = asObject(p.publicKey, 'proof.publicKey');
  readOneOf(k, 'kty', ['EC'] as const, 'proof.publicKey.kty');
  readOneOf(k, 'crv', ['P-256'] as const, 'proof.publicKey.crv');
  const [x, y] = [readString(k, 'x', 'proof.publicKey.x'), readString(k, 'y', 'proof.publicKey.y')];
  if (!B64URL_32_BYTES.test(x)) throw new ValidationError('proof.publicKey.x', 'must be 32 bytes, base64url');
  if (!B64URL_32_BYTES.test(y)) throw new ValidationError('proof.publicKey.y', 'must be 32 bytes, base64url');
  const challenge = readString(p, 'challenge', 'proof.challenge');
  if (challenge.length > 512) throw new ValidationError('proof.challenge', 'is too long');
  const signature = readString(p, 'signature', 'proof.signature');
  if (!/^[A-Za-z0-9_-]{86}$/.test(signature)) throw new ValidationError('proof.signature', 'must be 64 bytes (r‖s), base64url');
  return { clientId, proof: { publicKey: { kty: 'EC', crv: 'P-256', x, y }, challenge, signature } };
}

export function parseEnrolResponse(body: unknown): EnrolResponse {
  const o = asObject(body, 'enrolment');
  return { token: readString(o, 'token'), expiresAt: readString(o, 'expiresAt') };
}

export function parseCheckinRequest(body: unknown): CheckinRequest {
  const o = asObject(body, 'body');
  return {
    clientId: readClientId(o),
    exampleCount: readNumber(o, 'exampleCount', { min: 0, integer: true, max: META_LIMITS.numExamples }),
    backend: readOptionalShortString(o, 'backend', 'backend'),
  };
}

/**
 * Bounds of the numbers a client reports. Each is far above what an honest client sends (a cross-entropy
 * loss of a softmax is at most ~16 per example, times a class weight), so only nonsense is refused.
 */
export const META_LIMITS = {
  /** Examples a client may say it holds; the weight of its update is capped lower, per task. */
  numExamples: 10_000_000,
  loss: 10_000,
  /** A week of training, in ms. */
  trainMs: 7 * 24 * 3600_000,
  version: 2 ** 31 - 1,
  /** Characters of a free-form string field (backend name, lineage). */
  text: 64,
} as const;

function readOptionalShortString(o: Record<string, unknown>, key: string, field: string): string | undefined {
  const v = readOptionalString(o, key, field);
  if (v !== undefined && !/^[\x20-\x7e]*$/.test(v)) throw new ValidationError(field, 'must be printable ASCII');
  if (v !== undefined && v.length > META_LIMITS.text) throw new ValidationError(field, `must be at most ${META_LIMITS.text} characters`);
  return v;
}

export function parseUpdateMeta(meta: unknown): UpdateMeta {
  const o = asObject(meta, 'meta');
  const clientId = readString(o, 'clientId', 'meta.clientId');
  if (!isWellFormedId(clientId)) throw new ValidationError('meta.clientId', 'is not a well-formed id');
  return {
    clientId,
    baseVersion: readNumber(o, 'baseVersion', { min: 0, integer: true, max: META_LIMITS.version }, 'meta.baseVersion'),
    numExamples: readOptionalNumber(o, 'numExamples', { min: 1, integer: true, max: META_LIMITS.numExamples }, 'meta.numExamples'),
    loss: readOptionalNumber(o, 'loss', { min: 0, max: META_LIMITS.loss }, 'meta.loss'),
    accuracy: readOptionalNumber(o, 'accuracy', { min: 0, max: 1 }, 'meta.accuracy'),
    backend: readOptionalShortString(o, 'backend', 'meta.backend'),
    trainMs: readOptionalNumber(o, 'trainMs', { min: 0, max: META_LIMITS.trainMs }, 'meta.trainMs'),
    lineage: readOptionalShortString(o, 'lineage', 'meta.lineage'),
    ...(o.eval === undefined ? {} : { eval: readEvaluation(o.eval) }),
    ...(o.withinClip === undefined ? {} : { withinClip: readBoolean(o, 'withinClip', 'meta.withinClip') }),
  };
}

function readEvaluation(value: unknown): NonNullable<UpdateMeta['eval']> {
  const e = asObject(value, 'meta.eval');
  const personalAccuracy = readOptionalNumber(e, 'personalAccuracy', { min: 0, max: 1 }, 'meta.eval.personalAccuracy');
  return {
    accuracy: readNumber(e, 'accuracy', { min: 0, max: 1 }, 'meta.eval.accuracy'),
    loss: readNumber(e, 'loss', { min: 0, max: META_LIMITS.loss }, 'meta.eval.loss'),
    count: readNumber(e, 'count', { min: 1, max: META_LIMITS.numExamples, integer: true }, 'meta.eval.count'),
    ...(personalAccuracy === undefined ? {} : { personalAccuracy }),
  };
}

export function parseCheckinResponse(body: unknown): CheckinResponse {
  const o = asObject(body, 'checkin');
  const status = readOneOf(o, 'status', ['assigned', 'wait'] as const);
  if (status === 'wait') {
    return { status, retryAfterMs: readNumber(o, 'retryAfterMs', { min: 0 }), reason: readString(o, 'reason') };
  }
  return {
    status,
    roundId: readNumber(o, 'roundId', { integer: true, min: 0 }),
    modelVersion: readNumber(o, 'modelVersion', { integer: true, min: 0 }),
    modelUrl: readString(o, 'modelUrl'),
    uploadUrl: readString(o, 'uploadUrl'),
    deadline: readString(o, 'deadline'),
    config: parseTrainingConfig(o.config),
    // Checked field by field where it is used (core/secagg/protocol.ts parseSecAggParams), loaded only for such a task.
    ...(o.secureAggregation === undefined ? {} : { secureAggregation: asObject(o.secureAggregation, 'secureAggregation') as unknown as SecAggParams }),
  };
}


/** Batch sizes a task may leave to the device when it says `"batchSize": "auto"` without a `batchRange`. */
export const AUTO_BATCH_RANGE: [number, number] = [16, 128];
const MAX_BATCH = 4096;

export function parseTrainingConfig(value: unknown): TrainingConfig {
  const c = asObject(value, 'config');
  const auto = c.batchSize === 'auto';
  const batchRange = c.batchRange === undefined ? (auto ? AUTO_BATCH_RANGE : undefined) : readBatchRange(c.batchRange);
  if (batchRange && !auto && c.batchRange !== undefined && typeof c.batchSize === 'number' && (c.batchSize < batchRange[0] || c.batchSize > batchRange[1])) {
    throw new ValidationError('config.batchSize', `must lie within batchRange [${batchRange.join(', ')}]`);
  }
  return {
    epochs: readNumber(c, 'epochs', { integer: true, min: 1 }, 'config.epochs'),
    batchSize: auto ? Math.min(Math.max(32, batchRange![0]), batchRange![1]) : readNumber(c, 'batchSize', { integer: true, min: 1 }, 'config.batchSize'),
    ...(batchRange ? { batchRange } : {}),
    learningRate: readNumber(c, 'learningRate', { min: 0 }, 'config.learningRate'),
    optimizer: readOneOf(c, 'optimizer', ['sgd', 'adam'] as const, 'config.optimizer'),
    codec: readString(c, 'codec', 'config.codec'),
    ...(c.classWeights === undefined ? {} : { classWeights: readClassWeights(c.classWeights) }),
    ...(c.proximalMu === undefined ? {} : { proximalMu: readNumber(c, 'proximalMu', { min: 0, max: 1e3 }, 'config.proximalMu') }),
    ...(c.personalization === undefined ? {} : { personalization: readPersonalization(c.personalization) }),
    ...(c.clipNorm === undefined ? {} : { clipNorm: readNumber(c, 'clipNorm', { min: Number.MIN_VALUE, max: 1e6 }, 'config.clipNorm') }),
    ...(c.localNoise === undefined ? {} : { localNoise: readNumber(c, 'localNoise', { min: 0, max: 1e3 }, 'config.localNoise') }),
    ...(c.reportClip === undefined ? {} : { reportClip: readBoolean(c, 'reportClip', 'config.reportClip') }),
  };
}

/** [min, max]: integers from 1 to 4096, min ≤ max. The worker checks a job's range with it too. */
export const isBatchRange = (value: unknown): value is [number, number] =>
  Array.isArray(value) && value.length === 2 && value.every((b) => Number.isInteger(b) && b >= 1 && b <= MAX_BATCH) && value[0] <= value[1];

function readBatchRange(value: unknown): [number, number] {
  if (!isBatchRange(value)) throw new ValidationError('config.batchRange', `must be [min, max], integers from 1 to ${MAX_BATCH}, min ≤ max`);
  return [value[0] as number, value[1] as number];
}

function readPersonalization(value: unknown): NonNullable<TrainingConfig['personalization']> {
  const p = asObject(value, 'config.personalization');
  const layers = readString(p, 'layers', 'config.personalization.layers');
  if (!/^(all|last:[1-9]\d?)$/.test(layers)) throw new ValidationError('config.personalization.layers', 'must be "all" or "last:K"');
  return { epochs: readNumber(p, 'epochs', { integer: true, min: 1, max: 50 }, 'config.personalization.epochs'), layers };
}

function readClassWeights(value: unknown): number[] {
  if (!Array.isArray(value) || value.length === 0 || !value.every((w) => typeof w === 'number' && Number.isFinite(w) && w > 0)) {
    throw new ValidationError('config.classWeights', 'must be a list of positive numbers');
  }
  return value as number[];
}

function readBufferedSummary(value: unknown): NonNullable<RoundSummary['buffered']> {
  const b = asObject(value, 'round.buffered');
  return { size: readNumber(b, 'size', { integer: true, min: 1 }, 'round.buffered.size'), maxStaleness: readNumber(b, 'maxStaleness', { integer: true, min: 0 }, 'round.buffered.maxStaleness') };
}

/** Reads a task summary (from the coordinator, or from the copy kept for offline use). */
export function parseTaskSummary(value: unknown): TaskSummary {
  const o = asObject(value, 'task');
  const inputShape = o.inputShape;
  const labels = o.labels;
  if (!Array.isArray(inputShape) || !inputShape.every((d) => Number.isInteger(d) && d > 0)) throw new ValidationError('inputShape', 'must be a list of positive integers');
  if (!Array.isArray(labels) || !labels.every((l) => typeof l === 'string')) throw new ValidationError('labels', 'must be a list of strings');
  let round: RoundSummary | null = null;
  if (o.round !== null && o.round !== undefined) {
    const r = asObject(o.round, 'round');
    round = {
      id: readNumber(r, 'id', { integer: true, min: 1 }, 'round.id'),
      state: readOneOf(r, 'state', ROUND_STATES, 'round.state'),
      baseVersion: readNumber(r, 'baseVersion', { integer: true, min: 0 }, 'round.baseVersion'),
      assigned: readNumber(r, 'assigned', { integer: true, min: 0 }, 'round.assigned'),
      received: readNumber(r, 'received', { integer: true, min: 0 }, 'round.received'),
      minClients: readNumber(r, 'minClients', { integer: true, min: 1 }, 'round.minClients'),
      targetClients: readNumber(r, 'targetClients', { integer: true, min: 1 }, 'round.targetClients'),
      deadline: readString(r, 'deadline', 'round.deadline'),
      ...(r.buffered === undefined ? {} : { buffered: readBufferedSummary(r.buffered) }),
    };
  }
  const metrics = o.metrics;
  if (!Array.isArray(metrics) || !metrics.every((m) => METRIC_NAMES.includes(m as MetricName))) throw new ValidationError('metrics', `must list some of ${METRIC_NAMES.join(', ')}`);
  return {
    id: readString(o, 'id'),
    name: readString(o, 'name'),
    description: readString(o, 'description'),
    input: parseInputSpec(o.input),
    inputShape: inputShape as number[],
    metrics: metrics as MetricName[],
    labels: labels as string[],
    modelVersion: readNumber(o, 'modelVersion', { integer: true, min: 0 }),
    ...(o.paused === undefined ? {} : { paused: readBoolean(o, 'paused', 'paused') }),
    // Absent from coordinators (and cached summaries) older than lineages: '' then, and model URLs go without it.
    lineage: readOptionalString(o, 'lineage') ?? '',
    parameterCount: readNumber(o, 'parameterCount', { integer: true, min: 1 }),
    config: parseTrainingConfig(o.config),
    round,
    ...(o.privacy === undefined ? {} : { privacy: readSummaryPrivacy(o.privacy) }),
    ...(o.secureAggregation === undefined ? {} : { secureAggregation: readSummarySecure(o.secureAggregation) }),
    ...(o.conditions === undefined ? {} : { conditions: readConditionsObject(o.conditions, 'conditions') }),
  };
}

/** `{"charging"?: bool, "unmetered"?: bool, "idle"?: bool}`: when devices train (client/eligibility.ts). */
export function readConditionsObject(value: unknown, field: string): NonNullable<TaskSummary['conditions']> {
  const o = asObject(value, field);
  const out: NonNullable<TaskSummary['conditions']> = {};
  for (const [key, v] of Object.entries(o)) {
    if (key !== 'charging' && key !== 'unmetered' && key !== 'idle') throw new ValidationError(`${field}.${key}`, 'is not a condition: use charging, unmetered or idle');
    if (typeof v !== 'boolean') throw new ValidationError(`${field}.${key}`, 'must be true or false');
    out[key] = v;
  }
  return out;
}

function readSummarySecure(value: unknown): NonNullable<TaskSummary['secureAggregation']> {
  const o = asObject(value, 'secureAggregation');
  return {
    threshold: readNumber(o, 'threshold', { min: 0, max: 1 }, 'secureAggregation.threshold'),
    neighbours: o.neighbours === null ? null : readNumber(o, 'neighbours', { integer: true, min: 1 }, 'secureAggregation.neighbours'),
    curve: readString(o, 'curve', 'secureAggregation.curve'),
  };
}

function readSummaryPrivacy(value: unknown): NonNullable<TaskSummary['privacy']> {
  const p = asObject(value, 'privacy');
  const epsilon = p.epsilon === null ? null : readNumber(p, 'epsilon', { min: 0 }, 'privacy.epsilon');
  if (typeof p.budgetSpent !== 'boolean') throw new ValidationError('privacy.budgetSpent', 'must be true or false');
  return {
    mode: readOneOf(p, 'mode', ['central', 'local'] as const, 'privacy.mode'),
    clipNorm: readNumber(p, 'clipNorm', { min: 0 }, 'privacy.clipNorm'),
    noiseMultiplier: readNumber(p, 'noiseMultiplier', { min: 0 }, 'privacy.noiseMultiplier'),
    delta: readNumber(p, 'delta', { min: 0, max: 1 }, 'privacy.delta'),
    ...(p.maxEpsilon === undefined ? {} : { maxEpsilon: readNumber(p, 'maxEpsilon', { min: 0 }, 'privacy.maxEpsilon') }),
    epsilon,
    budgetSpent: p.budgetSpent,
  };
}

/** Where version `version` of a task's model is served: immutable URLs, keyed by the task's lineage too. */
export function modelPaths(taskId: string, version: number, lineage: string): { modelJson: string; weights: string; deltaFrom: (from: number) => string } {
  const base = `/v1/tasks/${encodeURIComponent(taskId)}/models/${version}`;
  const query = lineage ? `?lineage=${encodeURIComponent(lineage)}` : '';
  return { modelJson: `${base}/model.json${query}`, weights: `${base}/weights.bin${query}`, deltaFrom: (from) => `${base}/delta-from/${from}${query}` };
}

export function parseUploadAck(body: unknown): UploadAck {
  const o = asObject(body, 'ack');
  if (o.status !== 'accepted') throw new ValidationError('status', 'must be "accepted"');
  if (typeof o.duplicate !== 'boolean') throw new ValidationError('duplicate', 'must be a boolean');
  return {
    status: 'accepted',
    duplicate: o.duplicate,
    roundId: readNumber(o, 'roundId', { integer: true }),
    received: readNumber(o, 'received', { integer: true }),
    ...(o.staleness === undefined ? {} : { staleness: readNumber(o, 'staleness', { integer: true, min: 0 }) }),
    ...(o.weight === undefined ? {} : { weight: readNumber(o, 'weight', { min: 0, max: 1 }) }),
  };
}

/** Reads an {@link ApiError} body if that is what it is. */
export function readApiError(body: unknown): ApiError['error'] | null {
  if (typeof body !== 'object' || body === null) return null;
  const err = (body as { error?: unknown }).error;
  if (typeof err !== 'object' || err === null) return null;
  const { code, message, field } = err as Record<string, unknown>;
  if (typeof code !== 'string' || typeof message !== 'string') return null;
  return { code, message, field: typeof field === 'string' ? field : undefined };
}

export function isTaskSummary(value: unknown): value is TaskSummary {
  try {
    parseTaskSummary(value);
    return true;
  } catch {
    return false;
  }
}
