import type { AdaptiveClipping } from '../core/privacy/adaptive-clip.ts';
import type { CurveChoice } from '../core/secagg/protocol.ts';
import type { StalenessFunction } from '../core/staleness.ts';
import type * as tf from '@tensorflow/tfjs';
import type { InputSpec } from '../core/features.ts';
import type { TaskId } from '../core/ids.ts';
import type { MetricName, TrainingConfig } from '../core/protocol.ts';
import type { ServerOptimizerConfig } from '../core/server-optimizer.ts';
import type { ExampleBatch } from '../model/tf-model.ts';

/** When a round closes. */
export interface RoundPolicy {
  /** Fewest updates a round aggregates; with fewer at the deadline it fails and the model stays. */
  minClients: number;
  /** Updates the round waits for; it closes as soon as it has them. Also the most clients assigned. */
  targetClients: number;
  /** How long a round waits for its clients, from its opening. */
  deadlineMs: number;
  /**
   * How long an assigned client holds its place in the round before it uploads; a silent client's place is
   * then given to another (see assignment-leases.ts). Default: {@link assignmentLeaseMs}.
   */
  leaseMs?: number;
  /**
   * Buffered asynchronous aggregation (FedBuff) instead of synchronous rounds: clients check in at any time
   * and train the current model; every `size` accepted updates make a new version. A "round" is then one
   * buffer: `targetClients` and `minClients` are its size, and `deadlineMs` is the lease (a buffer has no
   * deadline; it waits for its updates).
   */
  buffer?: BufferPolicy;
}

export interface BufferPolicy {
  /** K: accepted updates per new version. */
  size: number;
  /** An update whose base is more than this many versions old is refused (409 too_stale). */
  maxStaleness: number;
  /** How much an update τ versions old counts (core/staleness.ts). */
  staleness: StalenessFunction;
  /** The most clients training at once (live assignments); check-ins past it are told when to come back. */
  concurrency: number;
}

/** A quarter of the deadline, at least 10 s (and at most the deadline): long enough to train a round's model in a browser. */
export function assignmentLeaseMs(p: RoundPolicy): number {
  return Math.round(p.leaseMs ?? Math.min(p.deadlineMs, Math.max(10_000, p.deadlineMs / 4)));
}

/** The example count an update is weighted by at most, when a task does not say (`maxExamplesPerClient`). */
export const DEFAULT_MAX_EXAMPLES_PER_CLIENT = 10_000;

/** A federated task as the coordinator runs it, made from a task file (see task-file.ts). */
export interface TaskDefinition {
  id: TaskId;
  name: string;
  description: string;
  input: InputSpec;
  labels: string[];
  /** The architecture with its initial weights, deterministic for a given seed. */
  buildModel(seed: number): Promise<tf.LayersModel>;
  training: TrainingConfig;
  rounds: RoundPolicy;
  /** Aggregation strategy name (core/strategies). */
  strategy: string;
  /** When set, each update is scaled down to this L2 norm before aggregation (norm clipping). */
  clipNorm?: number;
  /** When set, the aggregate delta steps the model through this server optimizer (FedAvgM, FedAdam, …). */
  serverOptimizer?: ServerOptimizerConfig;
  /** When set, an update whose L2 norm exceeds it is refused (400 norm_too_large). */
  maxUpdateNorm?: number;
  /**
   * The most examples an update is weighted by: a client's claimed count above it is clamped, so no one
   * client outweighs this many examples of others (1 gives every update the same weight). Default
   * {@link DEFAULT_MAX_EXAMPLES_PER_CLIENT}.
   */
  maxExamplesPerClient?: number;
  /**
   * Differential privacy (central, DP-FedAvg): clients clip to `clipNorm`, the coordinator refuses updates
   * over it, sums them with equal weights and adds N(0, (noiseMultiplier·clipNorm)²) before publishing; the
   * accountant reports (ε, `delta`) per version, and the task stops training before a round would take ε
   * past `maxEpsilon`.
   */
  privacy?: PrivacyPolicy;
  /**
   * Secure aggregation (Bonawitz et al. 2017; SecAgg+ with `neighbours`): the coordinator learns only the
   * sum of each round's updates. See core/secagg and coordinator/secure-round.ts.
   */
  secureAggregation?: SecureAggregationPolicy;
  /** When devices should train: only while charging, on an unmetered connection, while the person is idle (client/eligibility.ts). */
  conditions?: { charging?: boolean; unmetered?: boolean; idle?: boolean };
  /** Held-out metrics to compute for each model version; the first is the headline. */
  metrics: MetricName[];
  /** Origins (scheme://host:port) whose pages may use this task through the SDK, besides the coordinator's own. */
  allowedOrigins: string[];
  /**
   * Held-out examples, never sent to any client, to evaluate each global model on. Absent when the task has
   * none: federated evaluation (the clients' own held-out examples) is then its only measure.
   */
  loadTestSet?(): ExampleBatch;
}

export interface SecureAggregationPolicy {
  /** The share of a client's neighbours (and itself) needed to rebuild its secrets; over ½. */
  threshold: number;
  /** Neighbours per client (SecAgg+), or null for everyone (up to 255 clients a round). */
  neighbours: number | null;
  /** `auto`: X25519 when every client of a round offers it, P-256 otherwise; or one curve for every round. */
  curve: CurveChoice;
  /** The L2 norm clients clip to (with privacy, its clip norm); bounds every coordinate, and so the quantization. */
  clipNorm: number;
  /** Each phase after the first waits this long at most for the clients still expected. */
  phaseMs: number;
}

export interface PrivacyPolicy {
  /**
   * `central`: the coordinator adds the noise to the sum (people trust it with single clipped updates).
   * `local`: each client adds N(0, (z·S)²) to its own update before it leaves the device, for people who
   * trust no server; the mean of n such updates carries √n times the noise of central mode's sum, so it
   * needs far more clients for the same accuracy.
   */
  mode: 'central' | 'local';
  /** S; with adaptive clipping, the first round's. */
  clipNorm: number;
  noiseMultiplier: number;
  delta: number;
  maxEpsilon?: number;
  /** Central mode only: the clip norm follows a quantile of update norms (core/privacy/adaptive-clip.ts). */
  adaptiveClipping?: AdaptiveClipping;
}

/**
 * What a private task's clients are told for a round: clip to `clipNorm` (the round's, with adaptive
 * clipping), add local noise in local mode, report the clip bit with adaptive clipping.
 */
export function privateTrainingConfig(training: TrainingConfig, privacy: PrivacyPolicy, clipNorm = privacy.clipNorm): TrainingConfig {
  return {
    ...training,
    clipNorm,
    ...(privacy.mode === 'local' ? { localNoise: privacy.noiseMultiplier } : {}),
    ...(privacy.adaptiveClipping ? { reportClip: true } : {}),
  };
}
