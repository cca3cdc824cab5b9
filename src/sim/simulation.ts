/**
 * A simulated federation: N clients in this process, through the project's real parts — the coordinator's
 * `Federation` (round machine, validation, the task's strategy, a store on a temporary SQLite file), the
 * update frame and codec the browser sends, and the TF.js training code the browser's worker runs
 * (src/model). What is simulated is only who the clients are and when they come: each round it samples a
 * fraction of them (seeded), and each checks in, evaluates the model it received on its own held-out
 * examples, trains, and uploads.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { codecFor } from '../core/codecs/index.ts';
import { asWeights } from '../core/ids.ts';
import { int8 } from '../core/codecs/int8.ts';
import { compressWithFeedback } from '../core/error-feedback.ts';
import { isPrivateConfig, privatizeUpdate } from '../core/privacy/client-dp.ts';
import { runSecureRound, SECURE_PHASES, type SecureInput, type SecureRoundReport } from './secure-rounds.ts';
import { applyModelDelta, decodeModelDelta, shouldAskForDelta } from '../core/model-delta.ts';
import type { TrainingConfig } from '../core/protocol.ts';
import { createRng } from '../core/rng.ts';
import { frameWithPayload } from '../core/update-frame.ts';
import { subtractWeights } from '../core/vector.ts';
import { ApiFailure } from '../coordinator/api-failure.ts';
import { Federation } from '../coordinator/federation.ts';
import { ModelDeltas } from '../coordinator/model-deltas.ts';
import type { CoordinatorStore } from '../coordinator/store.ts';
import { SqliteStore } from '../coordinator/sqlite-store.ts';
import type { TaskDefinition } from '../coordinator/task.ts';
import { describeModel, evaluate, personalize, readWeights, trainLocally, writeWeights, type ExampleBatch } from '../model/tf-model.ts';

export interface SimClient {
  id: string;
  /** What it trains on. */
  train: ExampleBatch;
  /** Its own held-out part, never trained on: the federated evaluation's examples (may be empty). */
  heldOut: ExampleBatch;
}

export interface SimulationOptions {
  task: TaskDefinition;
  clients: SimClient[];
  /** The server's held-out set. */
  test: ExampleBatch;
  inputShape: number[];
  /** Clients sampled each round (C × N, at least 1). */
  perRound: number;
  rounds: number;
  seed: number;
  /** Stop early once the held-out accuracy reaches this (after `patience` more rounds, to show the plateau). */
  targetAccuracy?: number;
  signal?: AbortSignal;
  /** An adversary: what a hostile client sends instead of its honest delta (poisoning experiments); identity for the honest. */
  tamper?: (clientId: string, delta: Float32Array) => Float32Array;
  /**
   * How clients get the round's model: `delta` as the browser does (nothing when held, a delta from the
   * version it holds when the coordinator has one, else whole), or `full` (always whole, as before deltas).
   */
  downloads?: 'delta' | 'full';
  /** Secure aggregation: the share of each round's clients that drop out, each at a random phase. */
  dropout?: number;
  /** Test-set metrics besides accuracy and loss (AUC, F1 for two-class tasks), per round. */
  onEvaluated?: (round: number, metrics: { accuracy: number; loss: number; auc?: number; f1?: number }) => void;
}

export interface RoundRecord {
  round: number;
  /** Held-out accuracy and loss of the model this round produced. */
  accuracy: number;
  loss: number;
  /** The received model's accuracy on the sampled clients' own held-out examples, before they trained, as the coordinator aggregated their reports; null without any. */
  federatedAccuracy: number | null;
  federatedLoss: number | null;
  /** With personalization: the clients' fine-tuned personal models on the same held-out examples. */
  personalAccuracy: number | null;
  clients: number;
  /** Uploads the coordinator refused (a norm bound, say): they count for nothing. */
  refused: number;
  /** Mean client training loss this round. */
  clientLoss: number;
  /**
   * Per client-round, mean bytes of body that travelled: the update frame sent, and what the client received
   * for the round's model (nothing when held; a delta; weights.bin, and model.json the first time).
   */
  bytesUp: number;
  bytesDown: number;
  /** How the round's clients got the model. */
  downloads: { held: number; delta: number; full: number };
  /** Mean bytes of one delta download this round (null without any): what a client holding a recent version receives. */
  bytesPerDelta: number | null;
  wallMs: number;
  /** With differential privacy: ε (at the task's δ) of the model this round produced, every round composed; null without. */
  epsilon: number | null;
  /** With differential privacy: the clip norm the next round uses (it moves with adaptive clipping); null without. */
  clipNorm: number | null;
  /** Samples trained per second this round, over all its clients. */
  samplesPerSecond: number;
  /** Secure aggregation: who dropped where, bytes and time of the protocol (bytesUp/bytesDown above include them). */
  secure?: SecureRoundReport;
  /** In simulated time (timed.ts): when this version was made, in seconds from the start. */
  simTimeS?: number;
  /** Buffered aggregation: how stale this version's updates were (versions behind; mean, max) and their mean weight. */
  staleness?: { mean: number; max: number; meanWeight: number };
}

export async function simulate(opts: SimulationOptions, onRound: (r: RoundRecord) => void): Promise<RoundRecord[]> {
  const { task, clients, test, inputShape } = opts;
  const dir = mkdtempSync(join(tmpdir(), 'covey-sim-'));
  const store = new SqliteStore(join(dir, 'sim.sqlite'), { durable: false });
  const model = await task.buildModel(opts.seed);
  const spec = await describeModel(model);
  const modelJsonBytes = JSON.stringify({ format: 'layers-model', modelTopology: spec.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: spec.weightSpecs }] }).length;
  let clock = 0; // a simulated clock: the same seed replays the same store rows
  // A simulated client holds its place for the whole round: a refused upload must not look like a lapsed
  // lease (and keep the client out of the next rounds) when the simulated clock jumps to the deadline.
  const federation = new Federation({ ...task, rounds: { ...task.rounds, leaseMs: task.rounds.deadlineMs } }, await readWeights(model), store, {}, () => clock);
  const codec = codecFor(task.training.codec)!;
  const rng = createRng(opts.seed);
  // Stochastic rounding draws from its own generator: whichever codec a run uses, the same seed samples the
  // same clients and trains with the same seeds, so runs of different codecs differ by the codec alone.
  const rounding = createRng(opts.seed ^ 0x5bd1e995);
  const devices = new SimDevices(store, task.id, federation.lineage, modelJsonBytes, opts.downloads ?? 'delta');
  const classes = task.labels.length;
  const records: RoundRecord[] = [];
  try {
    for (let round = 1; round <= opts.rounds && !opts.signal?.aborted; round++) {
      const started = performance.now();
      const summary = federation.summary();
      const sampled = sample(clients, opts.perRound, rng);
      let up = 0, down = 0, deltaBytes = 0, trained = 0, lossSum = 0, refused = 0;
      const downloads = { held: 0, delta: 0, full: 0 };
      const secureInputs: SecureInput[] = [];
      for (const client of sampled) {
        clock += 1;
        const answer = federation.checkin({ clientId: client.id, exampleCount: client.train.count });
        if (answer.status !== 'assigned') {
          // A client that dropped out of a secure round sat past its lease: the coordinator rests it for a few rounds, as it would a browser.
          if (task.secureAggregation && /lapsed/.test(answer.reason)) continue;
          throw new Error(`simulated client ${client.id} was not assigned: ${answer.reason}`);
        }
        // The model as this client holds it: a delta's rounding included, as in the browser.
        const got = await devices.receive(client.id, answer.modelVersion);
        down += got.bytes;
        downloads[got.via] += 1;
        if (got.via === 'delta') deltaBytes += got.bytes;
        const global = asWeights(got.weights);
        writeWeights(model, global);
        // Federated evaluation, as the browser does it: the received model on the client's held-out part, reported with the update.
        const held = client.heldOut.count > 0 ? await evaluate(model, client.heldOut, inputShape) : null;
        let personalAccuracy: { personalAccuracy?: number } = {};
        if (held && task.training.personalization) {
          // Personalization, as the browser does it: fine-tune a copy of the received model, score it, go back to the global one.
          await personalize(model, client.train, task.training, { inputShape, numClasses: classes, seed: Math.floor(rng() * 2 ** 31) });
          personalAccuracy = { personalAccuracy: (await evaluate(model, client.heldOut, inputShape)).accuracy };
          writeWeights(model, global);
        }
        const evaluation = held ? { eval: { accuracy: held.accuracy, loss: Math.min(held.loss, 1e4), count: client.heldOut.count, ...personalAccuracy } } : {};
        const result = await trainLocally(model, client.train, task.training, { inputShape, numClasses: classes, seed: Math.floor(rng() * 2 ** 31) });
        const learnt = subtractWeights(result.weights, global);
        // With differential privacy a client clips (and in local mode noises) before sending, as the browser does.
        const { delta: honest, withinClip } = privatizeUpdate(learnt, answer.config);
        if (answer.secureAggregation) {
          // Secure aggregation: the update goes through the protocol with the others' after the loop.
          secureInputs.push({ clientId: client.id, params: answer.secureAggregation, update: opts.tamper ? opts.tamper(client.id, honest) : honest });
          trained += result.numExamples * task.training.epochs;
          lossSum += result.loss;
          continue;
        }
        const delta = opts.tamper ? opts.tamper(client.id, honest) : honest;
        // Encoded as the browser does: with the client's residual added where the codec drops values.
        const compressed = compressWithFeedback(codec, delta, devices.residual(client.id), rounding);
        devices.keepResidual(client.id, compressed.residual);
        // A private task's client sends the update alone, as the browser does.
        const meta = isPrivateConfig(answer.config)
          ? { clientId: client.id, baseVersion: answer.modelVersion, lineage: federation.lineage, ...(withinClip === undefined ? {} : { withinClip }) }
          : { clientId: client.id, baseVersion: answer.modelVersion, numExamples: result.numExamples, loss: Math.min(result.loss, 1e4), lineage: federation.lineage, ...evaluation };
        const frame = frameWithPayload(codec, meta, compressed.payload);
        try {
          federation.acceptUpload(answer.roundId, `r${round}-${client.id}`, frame, client.id);
        } catch (e) {
          if (!(e instanceof ApiFailure)) throw e;
          refused += 1;
        }
        up += frame.byteLength;
        trained += result.numExamples * task.training.epochs;
        lossSum += result.loss;
      }
      clock += 1;
      let secure: SecureRoundReport | null = null;
      if (secureInputs.length > 0) {
        const dropRng = createRng(opts.seed * 7919 + round);
        const dropout = opts.dropout ?? 0;
        secure = await runSecureRound(federation, secureInputs, () => (dropRng() < dropout ? SECURE_PHASES[Math.floor(dropRng() * 4)] : undefined), { get now() { return clock; }, jump: (to) => (clock = Math.max(clock, to)) });
        up += secure.bytesUp * secureInputs.length;
        down += secure.bytesDown * secureInputs.length;
      }
      await federation.settle();
      if (!secure && federation.modelVersion === summary.modelVersion) {
        // Some uploads were refused and the round is short of its target: its deadline comes, and it
        // aggregates what it has (or fails, and the model stays as it was).
        clock = Math.max(clock, Date.parse(summary.round!.deadline));
        federation.advance();
      }
      writeWeights(model, store.latestVersion(task.id)!.weights);
      const held = await evaluate(model, test, inputShape);
      opts.onEvaluated?.(round, held);
      // As the coordinator aggregated it: the round's base version, judged by the clients that received it.
      const federated = store.history(task.id).find((p) => p.version === summary.modelVersion)?.federated ?? null;
      const wallMs = performance.now() - started;
      const record: RoundRecord = {
        round,
        accuracy: held.accuracy,
        loss: held.loss,
        federatedAccuracy: federated?.accuracy ?? null,
        federatedLoss: federated?.loss ?? null,
        personalAccuracy: federated?.personalAccuracy ?? null,
        clients: sampled.length,
        refused,
        clientLoss: lossSum / sampled.length,
        bytesUp: up / sampled.length,
        bytesDown: down / sampled.length,
        downloads,
        bytesPerDelta: downloads.delta > 0 ? deltaBytes / downloads.delta : null,
        epsilon: store.history(task.id).at(-1)?.privacy?.epsilon ?? null,
        clipNorm: federation.summary().privacy?.clipNorm ?? null,
        wallMs,
        samplesPerSecond: trained / (wallMs / 1000),
        ...(secure ? { secure } : {}),
      };
      records.push(record);
      onRound(record);
      if (opts.targetAccuracy !== undefined && held.accuracy >= opts.targetAccuracy) break;
    }
    return records;
  } finally {
    await federation.settle();
    federation.stop();
    model.dispose();
    store.close();
    rmSync(dir, { recursive: true, force: true });
    tf.disposeVariables();
  }
}

/**
 * What each simulated client keeps between its rounds, as a browser keeps it in IndexedDB: the model version
 * it holds (and how many deltas led there) and its error-feedback residual. Memory grows with the clients
 * seen times the model's size (1,000 clients of the 2NN: about 0.8 GB); with `downloads: 'full'` no model is kept. Downloads go through the
 * coordinator's own delta maker and the browser's decoding steps, so their bytes are what would travel.
 */
class SimDevices {
  private readonly held = new Map<string, { version: number; hops: number; weights: Float32Array }>();
  private readonly residuals = new Map<string, Float32Array>();
  private readonly deltas: ModelDeltas;

  constructor(
    private readonly store: CoordinatorStore,
    private readonly taskId: string,
    private readonly lineage: string,
    private readonly modelJsonBytes: number,
    private readonly mode: 'delta' | 'full',
  ) {
    this.deltas = new ModelDeltas(store);
  }

  async receive(clientId: string, version: number): Promise<{ weights: Float32Array; bytes: number; via: 'held' | 'delta' | 'full' }> {
    const held = this.held.get(clientId);
    if (this.mode === 'delta' && held?.version === version) return { weights: held.weights, bytes: 0, via: 'held' };
    const frame = this.mode === 'delta' && held && shouldAskForDelta(held, version) ? await this.deltas.frame(this.taskId, this.lineage, held.version, version) : null;
    if (held && frame) {
      const { header, body } = decodeModelDelta(frame, { from: held.version, to: version, parameterCount: held.weights.length });
      const weights = applyModelDelta(held.weights, int8.decode(inflateRawSync(body, { maxOutputLength: header.payloadBytes }), held.weights.length));
      this.held.set(clientId, { version, hops: held.hops + 1, weights });
      return { weights, bytes: frame.byteLength, via: 'delta' };
    }
    const weights = this.store.modelVector(this.taskId, version)!;
    // Only with deltas does a client need what it holds: without, nothing is kept (memory stays flat).
    if (this.mode === 'delta') this.held.set(clientId, { version, hops: 0, weights });
    // With deltas, model.json once per client (the browser keeps the topology); without, with every download.
    return { weights, bytes: weights.byteLength + (this.mode === 'full' || !held ? this.modelJsonBytes : 0), via: 'full' };
  }

  residual(clientId: string): Float32Array | null {
    return this.residuals.get(clientId) ?? null;
  }

  keepResidual(clientId: string, residual: Float32Array | null): void {
    if (residual) this.residuals.set(clientId, residual);
    else this.residuals.delete(clientId);
  }
}

/** `k` distinct clients, uniformly, driven by `rng`. */
function sample<T>(items: readonly T[], k: number, rng: () => number): T[] {
  const pool = [...items];
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(rng() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, k);
}

/** The task's training config with simulator overrides (FedSGD: a full batch, one epoch, plain SGD). */
export function trainingFor(base: TrainingConfig, over: Partial<TrainingConfig>): TrainingConfig {
  return { ...base, ...Object.fromEntries(Object.entries(over).filter(([, v]) => v !== undefined)) };
}
