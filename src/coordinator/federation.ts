/**
 * One task's federation at run time: the global model, the current round and its running aggregate. Every
 * change goes to the store first and to memory second, so a restart rebuilds exactly this state (see
 * `start`).
 *
 * On a store several processes share (PostgreSQL), this process's memory is a cache of the store: `sync`
 * reads the task's head (round, version, counts, pause) before each decision and reloads what another
 * process changed; the running aggregate holds what this process took (its partial), and the process that
 * closes the round rebuilds the whole from the round's durable updates, under the task's lock (see
 * store.ts for what the store guarantees against the others).
 */
import { createHash } from 'node:crypto';
import { CodecError, type Codec } from '../core/codec.ts';
import { codecFor } from '../core/codecs/index.ts';
import { inputShape } from '../core/features.ts';
import { asWeights, isWellFormedId, type Weights } from '../core/ids.ts';
import { modelPaths, parseUpdateMeta, type CheckinRequest, type CheckinResponse, type TaskSummary, type UploadAck } from '../core/protocol.ts';
import type { Accumulator, Strategy } from '../core/strategy.ts';
import { getStrategy } from '../core/strategies/index.ts';
import { getServerOptimizer } from '../core/optimizers/index.ts';
import { packState, unpackState, type OptimizerState, type ServerOptimizer } from '../core/server-optimizer.ts';
import { decodeUpdateFrame, maxFrameBytes } from '../core/update-frame.ts';
import { ValidationError } from '../core/validate.ts';
import { withNormClipping } from '../core/strategies/norm-clipping.ts';
import { nextClipNorm } from '../core/privacy/adaptive-clip.ts';
import { applyDelta, findNonFinite, l2Norm } from '../core/vector.ts';
import { quantizationScale } from '../core/secagg/quantize.ts';
import { SecAggRefusal, type Inbox, type KeysMessage, type Roster, type SecAggParams, type SharesMessage, type UnmaskMessage } from '../core/secagg/protocol.ts';
import { SecureRound, type SecureRoundStatus } from './secure-round.ts';
import { PrivacyLedger, stringifyPrivacy } from './privacy-ledger.ts';
import { paceMs, RecentClients } from '../core/pace.ts';
import { stalenessWeight } from '../core/staleness.ts';
import { maxAssignments } from './round-machine.ts';
import { ApiFailure } from './api-failure.ts';
import { failpoint } from './failpoint.ts';
import { AssignmentLeases } from './assignment-leases.ts';
import { acceptsCheckins, acceptsUploads, dueEvent, transition, type RoundSnapshot } from './round-machine.ts';
import { StoreConflict, type CoordinatorStore, type RoundRow } from './store.ts';
import { assignmentLeaseMs, DEFAULT_MAX_EXAMPLES_PER_CLIENT, type TaskDefinition } from './task.ts';

export interface FederationEvents {
  /** A round closed; `version` is the new model version, or null when the round failed (`why`). */
  onRoundClosed?(taskId: string, roundId: number, version: number | null, why?: string): void;
  /** An update was accepted (not a repeat); `norm` is its L2 norm, before any clipping. Not called for private tasks: a single update's norm is not published. */
  onUpdateAccepted?(taskId: string, update: { norm: number; numExamples: number }): void;
  /** An update was stored, from this client, trained on this backend (the operator's population count; private tasks too). */
  onUpdateStored?(taskId: string, clientId: string, backend: string | undefined): void;
  /** A step the round's clock took failed (the store threw); it is tried again at the next tick. */
  onError?(taskId: string, error: unknown): void;
}

const WAIT_BETWEEN_ROUNDS_MS = 2_000;
/** Pace steering never asks a client to stay away longer than this: a new round or buffer should find its clients. */
export const PACE_CAP_MS = 15 * 60_000;
/** The population pace steering divides by: distinct clients seen in this window. */
const POPULATION_WINDOW_MS = 3600_000;
/** Round (or buffer) durations averaged for the rate pace steering aims at. */
const PERIODS_KEPT = 5;
/**
 * A client that let its place lapse is not assigned one again for this many rounds (its uploads still
 * count): the same silent ids cannot take the places back every round, so squatting needs fresh ids, which
 * the enrolment limit per address rations.
 */
export const LAPSE_COOLDOWN_ROUNDS = 3;
/**
 * A paused task's clients come back spread so that about this many ask each second, however many they
 * are, and none sooner than PAUSED_FLOOR_MS: a small federation resumes within seconds, a large one does
 * not hammer a coordinator that has nothing for it.
 */
export const PAUSED_CHECKINS_PER_SECOND = 10;
export const PAUSED_FLOOR_MS = 10_000;
/** On a shared store, how stale (ms) this process's view of the others' writes may be: see `sync`. */
const SYNC_MS = 20;
/** On a shared store, how often (ms) at most the leases other processes changed are read again: see `sync`. */
const LEASES_MS = 500;

export class Federation {
  readonly parameterCount: number;
  /** See TaskSummary.lineage. */
  readonly lineage: string;
  /** The task's strategy; a private task's is made per round (its clip norm can change: adaptive clipping). */
  private strategy: Strategy;
  /** The task's codec: every update must use it (its ρ bounds a top-k payload, its size the upload limit). */
  readonly codec: Codec;
  /** Steps the model with the aggregate delta, when the task names one; its state is restored with the model. */
  private readonly optimizer: ServerOptimizer | null;
  private optimizerState: OptimizerState | null = null;
  /** With DP: the accountant, the round's clip norm and bound; also the clip norm of secure aggregation. */
  private readonly privacy: PrivacyLedger;
  private version = 0;
  private weights!: Weights;
  private round!: RoundRow;
  private assigned = 0;
  /** When `sync` last read the store's head (performance.now()). */
  private syncedAt = -Infinity;
  /** Updates in the current round: the accumulator's count, or on a shared store every process's (as last read). */
  private received = 0;
  private readonly leases: AssignmentLeases;
  private readonly maxExamplesPerClient: number;
  private accumulator!: Accumulator;
  private lossSum = 0;
  /** Adaptive clipping: the round's updates reported within its clip norm. */
  private withinClip = 0;
  /** Secure aggregation: the current round's protocol (null for other tasks). */
  private secure: SecureRound | null = null;
  private timer: NodeJS.Timeout | undefined;
  /** Clients seen lately (check-ins and uploads): the population pace steering spreads. */
  private readonly recent = new RecentClients(POPULATION_WINDOW_MS);
  /** How long the last rounds (or buffers) took from their first client to closing, newest last (ms). */
  private readonly periods: number[] = [];
  /** When the current round's first client came (null: none yet, or not known after a restart). */
  private activeSince: number | null = null;
  /** When the last version was published by this process (null: none yet). */
  private lastClosedAt: number | null = null;

  constructor(
    readonly task: TaskDefinition,
    initialWeights: Float32Array,
    private readonly store: CoordinatorStore,
    private readonly events: FederationEvents = {},
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {
    this.parameterCount = initialWeights.length;
    const codec = codecFor(task.training.codec);
    if (!codec) throw new Error(`task ${task.id} names codec "${task.training.codec}", which does not exist`);
    this.codec = codec;
    const strategy = getStrategy(task.strategy);
    this.strategy = task.clipNorm ? withNormClipping(strategy, task.clipNorm) : strategy;
    this.leases = new AssignmentLeases(assignmentLeaseMs(task.rounds));
    this.optimizer = task.serverOptimizer ? getServerOptimizer(task.serverOptimizer) : null;
    this.maxExamplesPerClient = task.maxExamplesPerClient ?? DEFAULT_MAX_EXAMPLES_PER_CLIENT;
    this.privacy = new PrivacyLedger(task, this.parameterCount, () => store.countClients(task.id));
    if (store.shared && task.secureAggregation) throw new Error(`task ${task.id} aggregates securely, whose round lives in one process's memory: run it on one coordinator (the embedded SQLite store), not on a store several share`);
    store.initialiseTask(task.id, initialWeights, this.newRoundRow(0, now()));
    this.lineage = store.lineage(task.id);
    this.pausedNow = store.isPaused(task.id);
    this.restore();
  }

  get modelVersion(): number {
    this.sync();
    return this.version;
  }

  /** Whether `version` is published; on a shared store, one another process just wrote counts (read at once). */
  knowsVersion(version: number): boolean {
    if (version <= this.version) return true;
    this.sync(true);
    return version <= this.version;
  }

  /** Paused by the operator: check-ins are told to wait, uploads of work already assigned are still taken. */
  get paused(): boolean {
    return this.pausedNow;
  }

  setPaused(paused: boolean): void {
    this.store.setPaused(this.task.id, paused, this.now());
    this.pausedNow = paused;
  }

  private pausedNow = false;

  /** The round (or buffer) now open. */
  get currentRoundId(): number {
    return this.round.roundId;
  }

  /** Starts the deadline clock; finishes a round that a crash interrupted while it aggregated. */
  start(): void {
    // A secure round's secrets were in the memory of the process that died: the round cannot finish.
    if (this.secure && this.assigned > 0) this.closeRound(null, 'the coordinator restarted during a secure round (its state is kept in memory only)');
    if (this.round.state === 'aggregating' && !this.secure && this.store.takeOverAggregation(this.task.id, this.round.roundId)) this.aggregate();
    this.timer = setInterval(() => this.advanceLater(), 500);
    this.timer.unref();
    this.advance();
  }

  stop(): void {
    clearInterval(this.timer);
    this.stopped = true;
  }

  private stopped = false;

  /** Largest upload body this task accepts: frame header, metadata and the largest payload of its codec, nothing more. */
  get maxUploadBytes(): number {
    return maxFrameBytes(this.codec.maxEncodedBytes(this.parameterCount));
  }

  summary(): TaskSummary {
    this.sync();
    const r = this.round;
    return {
      id: this.task.id,
      name: this.task.name,
      description: this.task.description,
      input: this.task.input,
      inputShape: inputShape(this.task.input),
      metrics: this.task.metrics,
      labels: this.task.labels,
      modelVersion: this.version,
      ...(this.pausedNow ? { paused: true } : {}),
      lineage: this.lineage,
      parameterCount: this.parameterCount,
      ...(this.task.privacy ? { privacy: { ...this.task.privacy, clipNorm: this.privacy.clipNorm(), epsilon: this.privacy.record?.epsilon ?? 0, budgetSpent: this.privacy.budgetSpent(this.version) } } : {}),
      config: this.privacy.trainingConfig(),
      ...(this.task.conditions ? { conditions: this.task.conditions } : {}),
      ...(this.task.secureAggregation ? { secureAggregation: { threshold: this.task.secureAggregation.threshold, neighbours: this.task.secureAggregation.neighbours, curve: this.task.secureAggregation.curve } } : {}),
      round: {
        id: r.roundId,
        state: r.state,
        baseVersion: r.baseVersion,
        assigned: this.assigned,
        received: this.received,
        minClients: r.minClients,
        targetClients: r.targetClients,
        deadline: new Date(r.deadlineAt).toISOString(),
        ...(this.task.rounds.buffer ? { buffered: { size: this.task.rounds.buffer.size, maxStaleness: this.task.rounds.buffer.maxStaleness } } : {}),
      },
    };
  }

  checkin(req: CheckinRequest): CheckinResponse {
    this.advanceLater();
    const r = this.round;
    const now = this.now();
    const buffer = this.task.rounds.buffer;
    this.recent.touch(req.clientId, now);
    const wait = (reason: string, retryAfterMs: number): CheckinResponse => ({ status: 'wait', reason, retryAfterMs });
    if (req.exampleCount < 1) return wait('no examples to train on', 30_000);
    // Paused by its operator: nobody is assigned; updates already trained are still taken.
    if (this.paused) return wait('the operator paused this task', paceMs({ population: this.recent.count(now), wantedPerSecond: PAUSED_CHECKINS_PER_SECOND, floorMs: PAUSED_FLOOR_MS, capMs: PACE_CAP_MS }, this.random));
    if (this.privacy.budgetSpent(this.version)) return wait(`privacy budget spent: the model is at ε = ${(this.privacy.record?.epsilon ?? 0).toFixed(2)} and another round would pass the task's ${this.task.privacy!.maxEpsilon}`, 3600_000);
    if (this.store.hasClientUpdate(this.task.id, r.roundId, req.clientId)) {
      const what = buffer ? `the buffer that makes version ${this.version + 1} (${this.received} of ${buffer.size} updates)` : `round ${r.roundId}`;
      return wait(`already contributed to ${what}`, this.pace());
    }
    // A secure round past its keys phase, or one this client already sent its keys to, has nothing more for it to train.
    if (this.secure && (this.secure.phase !== 'keys' || this.secure.server.hasKeys(req.clientId))) {
      return wait(`round ${r.roundId} is securely aggregating; the next one opens when it ends`, this.untilDeadline(WAIT_BETWEEN_ROUNDS_MS));
    }
    if (buffer) {
      const refused = this.bufferedCheckin(req.clientId, now, buffer.concurrency);
      if (refused) return wait(refused, this.pace());
    } else if (this.store.isAssigned(this.task.id, r.roundId, req.clientId)) {
      // Assigned before: the same assignment while its lease runs (a reload); once it lapsed, the place is
      // someone else's, though an update that arrives while the round takes them still counts.
      if (!this.leases.isLive(req.clientId, now)) return wait(`your place in round ${r.roundId} lapsed; an update you trained still counts until the round closes`, this.pace());
    } else {
      // Not for secure rounds: their updates are never stored one by one, so every past participant would look lapsed.
      if (!this.secure && this.store.lapsedSince(this.task.id, req.clientId, r.roundId - LAPSE_COOLDOWN_ROUNDS, r.roundId, this.leases.leaseMs, now)) {
        return wait(`your place in a recent round lapsed; you are assigned again after ${LAPSE_COOLDOWN_ROUNDS} rounds (an update you send still counts)`, this.pace());
      }
      if (!acceptsCheckins(this.snapshot())) return wait(`round ${r.roundId} is full`, this.pace());
      this.firstClient(now);
      this.store.assign(this.task.id, r.roundId, req.clientId, now);
      this.leases.assign(req.clientId, now);
      this.assigned += 1;
      this.advanceLater();
    }
    const base = `/v1/tasks/${this.task.id}`;
    return {
      status: 'assigned',
      roundId: r.roundId,
      modelVersion: r.baseVersion,
      modelUrl: modelPaths(this.task.id, r.baseVersion, this.lineage).modelJson,
      uploadUrl: `${base}/rounds/${r.roundId}/updates/`,
      config: this.privacy.trainingConfig(),
      // A buffer has no deadline: the client's lease is its time to report.
      deadline: new Date(buffer ? now + this.leases.leaseMs : r.deadlineAt).toISOString(),
      ...(this.secure ? { secureAggregation: this.secure.params } : {}),
    };
  }

  /**
   * A buffered task's check-in: leases run across buffers, so a lapse is told by time. The same client
   * while its lease runs gets its assignment again (a reload); one whose lease lapsed without an update
   * waits LAPSE_COOLDOWN_ROUNDS leases before it is assigned again (its update still counts), so the same
   * silent ids cannot hold the training slots; otherwise it takes a slot if fewer than `concurrency` are
   * held by others. Returns why not, or null once assigned.
   */
  private bufferedCheckin(clientId: string, now: number, concurrency: number): string | null {
    if (this.leases.isLive(clientId, now)) return null;
    const last = this.store.lastAssignment(this.task.id, clientId);
    const leaseMs = this.leases.leaseMs;
    if (last && !last.reported && now < last.assignedAt + leaseMs * (1 + LAPSE_COOLDOWN_ROUNDS)) {
      return `your last assignment lapsed without an update; you are assigned again ${LAPSE_COOLDOWN_ROUNDS} leases later (an update you send still counts)`;
    }
    if (this.leases.count(now) >= concurrency) return `${concurrency} clients are training already`;
    this.firstClient(now);
    if (!this.store.isAssigned(this.task.id, this.round.roundId, clientId)) this.assigned += 1;
    this.store.reassign(this.task.id, this.round.roundId, clientId, now);
    this.leases.assign(clientId, now);
    return null;
  }

  /**
   * Validates an upload completely before it touches the aggregate; throws an ApiFailure naming the problem.
   * `tokenClientId`, when given, is the client the upload's token speaks for: the update must be its own.
   */
  acceptUpload(roundId: number, updateId: string, body: Uint8Array, tokenClientId?: string): UploadAck {
    if (!isWellFormedId(updateId)) throw new ApiFailure(400, 'bad_update_id', 'update id must be 8–64 characters of A–Z, a–z, 0–9, _ or -', 'updateId');
    const digest = createHash('sha256').update(body).digest('hex');
    const previous = this.store.findUpdate(updateId);
    if (previous) return this.repeatOf(previous, digest, tokenClientId);
    const named = this.store.round(this.task.id, roundId);
    if (!named) throw new ApiFailure(404, 'unknown_round', `task ${this.task.id} has no round ${roundId}`, 'round');
    // A round newer than this process has seen (another process opened it): read it now, not in 20 ms.
    if (named.roundId > this.round.roundId) this.sync(true);
    this.advanceLater();
    const buffer = this.task.rounds.buffer;
    // Where the update goes: a buffered task takes any update into its open buffer (its staleness decides
    // below); a synchronous one into the round it names, or into the current round when that one trains the
    // same model (its round failed, or it was trained offline while nobody came), since nothing changed since.
    const round = this.round;
    const fits = buffer !== undefined || named.roundId === round.roundId || named.baseVersion === round.baseVersion;
    if (!fits || !acceptsUploads(round.state)) {
      throw new ApiFailure(409, 'round_closed', `round ${roundId} no longer takes updates; check in for the current round`, 'round');
    }
    roundId = round.roundId;
    if (this.secure) throw new ApiFailure(409, 'secure_aggregation', 'this task aggregates securely: send the masked input through the round\'s secure aggregation phases, not an update', 'round');
    if (this.privacy.budgetSpent(this.version)) throw new ApiFailure(409, 'privacy_budget_spent', `the task's privacy budget (ε ≤ ${this.task.privacy!.maxEpsilon}) is spent: it trains no more`, 'round');
    const { meta, delta, norm } = this.decode(body);
    if (tokenClientId !== undefined && meta.clientId !== tokenClientId) {
      throw new ApiFailure(403, 'token_mismatch', 'the update names another client than the token', 'meta.clientId');
    }
    if (meta.lineage !== undefined && meta.lineage !== this.lineage) {
      throw new ApiFailure(409, 'other_lineage', `the update was trained from a model of another lineage; this federation is ${this.lineage} (the coordinator was started afresh)`, 'meta.lineage');
    }
    const tau = this.version - meta.baseVersion;
    if (buffer) {
      if (tau < 0) throw new ApiFailure(409, 'stale_model', `the model is at version ${this.version}; the update names version ${meta.baseVersion}, which does not exist yet`, 'meta.baseVersion');
      // A refused client is done with that job: its training slot frees now rather than when its lease lapses.
      if (tau < 0 || tau > buffer.maxStaleness) this.leases.release(meta.clientId);
      if (tau > buffer.maxStaleness) throw new ApiFailure(409, 'too_stale', `the update was trained from version ${meta.baseVersion}, ${tau} versions behind the model (v${this.version}); this task takes updates at most ${buffer.maxStaleness} versions old`, 'meta.baseVersion');
    } else if (meta.baseVersion !== round.baseVersion) {
      throw new ApiFailure(409, 'stale_model', `round ${roundId} trains model version ${round.baseVersion}, not the one the update was trained from`, 'meta.baseVersion');
    }
    if (this.store.hasClientUpdate(this.task.id, roundId, meta.clientId)) {
      throw new ApiFailure(409, 'client_already_reported', `client already sent an update for round ${roundId}`, 'meta.clientId');
    }
    // The round is decided by the first updates that pass validation, whether their clients hold a place
    // (checked in, lease running) or not (trained offline, or their lease lapsed): an upload is its own check-in.
    if (!this.store.isAssigned(this.task.id, roundId, meta.clientId)) {
      // Unless the task is paused: then it waits (503, so the client's outbox keeps it and tries again).
      // (A buffered client's lease carries across buffers: it holds a place though assigned under an earlier one.)
      if (this.pausedNow && !(buffer && this.leases.isLive(meta.clientId, this.now()))) throw new ApiFailure(503, 'task_paused', 'the operator paused this task; the update is taken once it is resumed', undefined, Math.ceil(PAUSED_FLOOR_MS / 1000));
      this.firstClient(this.now());
      this.store.assign(this.task.id, roundId, meta.clientId, this.now());
      this.assigned += 1;
    }
    this.recent.touch(meta.clientId, this.now());
    // A client's say is bounded: its claimed example count weights its update up to the task's cap. A private
    // task weights every update the same and keeps nothing but the update (and the clip bit): no loss or
    // evaluation of one person is stored, so none can be published un-noised.
    const priv = this.task.privacy !== undefined;
    // A plain task weights by the claimed count and reports the loss: both are required there.
    if (!priv && (meta.numExamples === undefined || meta.loss === undefined)) throw new ApiFailure(400, 'invalid_meta', 'meta.numExamples and meta.loss are required for this task', meta.numExamples === undefined ? 'meta.numExamples' : 'meta.loss');
    const weight = priv ? 1 : Math.min(meta.numExamples ?? 1, this.maxExamplesPerClient);
    const loss = priv ? 0 : (meta.loss ?? 0);
    const withinClip = this.task.privacy?.adaptiveClipping ? meta.withinClip === true : null;
    // FedBuff: the delta counts scaled by s(τ); its example weight stays, so the buffer's mean shrinks with staleness.
    const staleness = buffer ? stalenessWeight(buffer.staleness, tau) : null;
    // Durable first, then in memory: an acknowledged update survives a crash, a failed write changes nothing.
    try {
      this.store.insertUpdate({ taskId: this.task.id, roundId, updateId, clientId: meta.clientId, baseVersion: meta.baseVersion, numExamples: weight, loss, backend: meta.backend ?? null, bytes: body.byteLength, delta, bodySha256: digest, withinClip, staleness, ...(meta.eval && !priv ? { eval: { ...meta.eval, count: Math.min(meta.eval.count, this.maxExamplesPerClient) } } : {}), ...(priv ? {} : { trainMs: meta.trainMs ?? null, norm }) }, this.now());
    } catch (e) {
      // Another process closed the round, or took this client's update (or this very one) first.
      if (!(e instanceof StoreConflict)) throw e;
      this.sync();
      const again = e.reason === 'update_id_reused' ? this.store.findUpdate(updateId) : null;
      if (again) return this.repeatOf(again, digest, meta.clientId);
      if (e.reason === 'round_closed') throw new ApiFailure(409, 'round_closed', `round ${roundId} no longer takes updates; check in for the current round`, 'round');
      throw new ApiFailure(409, 'client_already_reported', `client already sent an update for round ${roundId}`, 'meta.clientId');
    }
    failpoint('update-stored');
    this.events.onUpdateStored?.(this.task.id, meta.clientId, meta.backend);
    this.leases.release(meta.clientId);
    this.accumulator.add(staleness === null ? delta : scaled(delta, staleness), weight);
    this.lossSum += loss * weight;
    if (withinClip) this.withinClip += 1;
    this.received += 1;
    const received = this.received;
    if (!priv) this.events.onUpdateAccepted?.(this.task.id, { norm, numExamples: weight });
    setImmediate(() => this.advanceLater());
    return { status: 'accepted', duplicate: false, roundId, received, ...(staleness === null ? {} : { staleness: tau, weight: staleness }) };
  }

  /**
   * An update id already stored: a retry (the same bytes, for this task, from the same client) is answered
   * as accepted again, counted once; anything else reusing the id is refused, including another client
   * presenting someone's bytes under their id (nothing of theirs is acknowledged). The round it was filed
   * under may be a later one than its URL names: the bytes identify it.
   */
  private repeatOf(previous: { taskId: string; roundId: number; clientId: string; bodySha256: string | null }, digest: string, clientId: string | undefined): UploadAck {
    if (previous.taskId !== this.task.id || previous.bodySha256 !== digest || (clientId !== undefined && previous.clientId !== clientId)) {
      throw new ApiFailure(409, 'update_id_reused', 'this update id was already used for another update', 'updateId');
    }
    return { status: 'accepted', duplicate: true, roundId: previous.roundId, received: this.store.countUpdates(this.task.id, previous.roundId) };
  }

  /**
   * The round's first client (a check-in, or an upload that is its own): a synchronous round's clock starts
   * now, so a round that waited idle past its deadline gives its clients the whole of it.
   */
  private firstClient(now: number): void {
    if (this.assigned > 0) return;
    this.activeSince = now;
    if (this.task.rounds.buffer) return;
    this.round.deadlineAt = now + this.task.rounds.deadlineMs;
    this.store.setRoundDeadline(this.task.id, this.round.roundId, this.round.deadlineAt);
    // A secure round's phases run to the round's deadline; nobody has sent keys yet, so it starts afresh.
    if (this.secure) this.secure = this.newSecureRound();
  }

  private decode(body: Uint8Array) {
    try {
      const frame = decodeUpdateFrame(body);
      const meta = parseUpdateMeta(frame.meta);
      if (frame.codecId !== this.codec.id) {
        throw new ApiFailure(400, 'wrong_codec', `this task's updates are encoded with ${this.codec.name} (codec id ${this.codec.id}), not codec id ${frame.codecId}`, 'codec');
      }
      const delta = this.codec.decode(frame.payload, this.parameterCount);
      const bad = findNonFinite(delta);
      if (bad >= 0) throw new ApiFailure(400, 'non_finite', `delta value ${bad} is ${delta[bad]}`, 'payload');
      const norm = l2Norm(delta);
      // With DP the client clipped to S; a little slack for what a lossy codec's rounding adds to the norm.
      const bound = this.privacy.normBound();
      if (bound !== null && norm > bound * 1.01) {
        throw new ApiFailure(400, 'norm_over_clip', `update norm ${norm.toFixed(4)} exceeds this round's bound ${bound.toPrecision(4)} (clip norm ${this.privacy.clipNorm().toPrecision(4)}${this.task.privacy!.mode === 'local' ? ' plus the local noise' : ''}): clip on the device before sending`, 'payload');
      }
      // A private task's bound is the one above (in local mode the noise alone is far over a plain task's bound).
      if (bound === null && this.task.maxUpdateNorm !== undefined && norm > this.task.maxUpdateNorm) {
        throw new ApiFailure(400, 'norm_too_large', `update norm ${norm.toFixed(3)} exceeds this task's bound ${this.task.maxUpdateNorm}`, 'payload');
      }
      return { meta, delta, norm };
    } catch (e) {
      if (e instanceof ValidationError) throw new ApiFailure(400, 'invalid_meta', e.message, e.field);
      if (e instanceof CodecError) throw new ApiFailure(400, 'invalid_frame', e.message, 'body');
      throw e;
    }
  }

  /**
   * `advance` from a timer or on the way through a request: a store that fails (PostgreSQL unreachable for
   * a moment, a close that keeps failing) is reported, not thrown where nothing catches it or into a
   * check-in or upload that does not depend on it; the next tick tries again from what the store holds.
   */
  private advanceLater(): void {
    try {
      this.advance();
    } catch (e) {
      if (this.events.onError) this.events.onError(this.task.id, e);
      else throw e;
    }
  }

  /** Applies whatever transition is due. Safe to call at any time. */
  advance(): void {
    // Stopped (shut down, or replaced by a new federation of the same task): the round is no longer this one's to close.
    if (this.stopped) return;
    // A secure round nobody came to waits for its first client too (firstClient starts its phases' clock).
    if (this.secure) return this.assigned === 0 ? undefined : this.advanceSecure();
    this.sync();
    // Another process is aggregating the round; if it died (its lock is free), this one finishes it.
    if (this.round.state === 'aggregating') {
      if (this.store.takeOverAggregation(this.task.id, this.round.roundId)) this.aggregate();
      return;
    }
    const event = dueEvent(this.snapshot(), this.now());
    if (!event) return;
    const from = this.round.state;
    if (event.type === 'assignments-full' || event.type === 'assignments-lapsed') {
      const to = transition(from, event);
      if (this.store.setRoundState(this.task.id, this.round.roundId, from, to)) this.round.state = to;
      else this.sync(true);
    } else if (event.type === 'quorum') {
      const to = transition(from, event);
      // Exactly one process closes the round: the one whose claim moved it (it holds the task's lock).
      if (!this.store.claimAggregation(this.task.id, this.round.roundId, from)) return this.sync(true);
      this.round.state = to;
      failpoint('aggregating');
      this.aggregate();
    } else {
      this.closeRound(null, 'too few updates by its deadline', true);
    }
  }

  /** Aggregates the round (which this process has claimed); on a shared store, from every process's durable updates. */
  private aggregate(): void {
    try {
      if (this.store.shared) this.replayRound();
      const acc = this.accumulator;
      this.commit(acc.finish(), acc.count, acc.totalExamples);
    } finally {
      // closeRound let go of the lock; if commit threw before it, it is let go here.
      this.store.releaseTask(this.task.id);
    }
  }

  /** Steps the model with the round's aggregate delta of `count` updates, accounts for privacy, and closes the round. */
  private commit(delta: Float32Array, count: number, totalExamples: number): void {
    // The optimizer's state is updated on copies: a round that fails below leaves the stored state as it was.
    const stepped = this.optimizer?.step(this.weights, delta, this.optimizerState?.map((v) => v.slice()) ?? null);
    const next = stepped?.weights ?? applyDelta(this.weights, delta);
    // Each update was finite, but their weighted sum can still overflow float32: never publish such a model.
    const bad = findNonFinite(next);
    if (bad >= 0) return this.closeRound(null, `the aggregate was not finite (parameter ${bad} is ${next[bad]}); the model stays at v${this.version}`);
    const optimizerState = stepped ? packState(stepped.state) : null;
    const privacy = this.task.privacy ? this.privacy.account(count) : null;
    const adaptive = this.task.privacy?.adaptiveClipping;
    if (privacy && adaptive) privacy.nextClipNorm = nextClipNorm(this.privacy.clipNorm(), this.withinClip, count, this.task.rounds.targetClients, adaptive);
    // Never publish a model past the budget: the round fails, the model stays, and training stops.
    if (privacy && this.task.privacy!.maxEpsilon !== undefined && privacy.epsilon > this.task.privacy!.maxEpsilon) {
      return this.closeRound(null, `privacy budget spent: this round would take ε to ${privacy.epsilon.toFixed(3)}, past ${this.task.privacy!.maxEpsilon}`);
    }
    this.closeRound({ version: this.version + 1, weights: next, numClients: count, numExamples: totalExamples, clientLoss: this.task.privacy || this.secure ? null : this.lossSum / totalExamples, optimizerState, privacy: privacy && stringifyPrivacy(privacy) });
  }

  /** `carryUpdates`: the round failed for lack of updates, and those it has go on into the next (store.closeRound). */
  private closeRound(result: Parameters<CoordinatorStore['closeRound']>[0]['result'], why?: string, carryUpdates = false): void {
    const closed = this.round.roundId;
    const nextVersion = result?.version ?? this.version;
    const now = this.now();
    // A round lasts from its first client to its close; a buffer from the close before it (its first update
    // may arrive just before it closes, from a client that trained through the previous one).
    const since = this.task.rounds.buffer ? this.lastClosedAt : this.activeSince;
    if (result && since !== null) {
      this.periods.push(now - since);
      if (this.periods.length > PERIODS_KEPT) this.periods.shift();
    }
    // Another process closed it first (it saw the round in another state): follow it.
    if (!this.store.closeRound({ taskId: this.task.id, roundId: closed, now, from: this.round.state, result, next: this.newRoundRow(nextVersion, now), carryUpdates })) return this.restore();
    if (result) this.lastClosedAt = now;
    failpoint('model-written');
    this.restore();
    this.events.onRoundClosed?.(this.task.id, closed, result?.version ?? null, why);
  }

  /** Loads the latest model and the current round from the store, replaying the round's updates. */
  private restore(): void {
    this.syncedAt = performance.now();
    const latest = this.store.latestVersion(this.task.id);
    const round = this.store.currentRound(this.task.id);
    if (!latest || !round) throw new Error(`task ${this.task.id} has no stored model or round`);
    if (latest.weights.length !== this.parameterCount) {
      throw new Error(`stored model of task ${this.task.id} has ${latest.weights.length} parameters, the task's architecture ${this.parameterCount}: the task changed; start from a fresh data directory`);
    }
    this.version = latest.version;
    this.weights = asWeights(latest.weights);
    this.optimizerState = latest.optimizerState ? unpackState(latest.optimizerState, this.parameterCount) : null;
    this.privacy.restore(latest.version, latest.privacy);
    const starting = (this.round as RoundRow | undefined) === undefined;
    this.round = round;
    this.assigned = this.store.countAssigned(this.task.id, round.roundId);
    this.activeSince = null;
    if (!this.task.rounds.buffer) {
      this.leases.clear();
      for (const a of this.store.silentAssignments(this.task.id, round.roundId)) this.leases.assign(a.clientId, a.assignedAt);
    } else if (starting) {
      // A buffer's clients train on after it closes: their leases (and slots) carry into the next buffer, so
      // a process starting rebuilds them from every assignment still within its lease and not reported.
      for (const a of this.store.unreportedSince(this.task.id, this.now() - this.leases.leaseMs)) this.leases.assign(a.clientId, a.assignedAt);
    }
    // Pace steering's population survives a restart: the clients assigned in its window.
    if (starting) for (const c of this.store.clientsSince(this.task.id, this.now() - POPULATION_WINDOW_MS)) this.recent.touch(c.clientId, c.at);
    if (this.task.privacy) this.strategy = this.privacy.strategy();
    this.secure = this.task.secureAggregation ? this.newSecureRound() : null;
    this.othersAssigned = 0;
    // On a shared store the process that closes a round reads its deltas then; here, only the counts.
    this.replayRound(!this.store.shared);
  }

  /** The running aggregate afresh from the round's durable updates (a restart; on a shared store, every process's). */
  private replayRound(deltas = true): void {
    this.accumulator = this.strategy.createAccumulator(this.parameterCount);
    this.lossSum = 0;
    this.withinClip = 0;
    if (deltas) for (const u of this.store.iterateUpdates(this.task.id, this.round.roundId)) {
      this.accumulator.add(u.staleness === null || u.staleness === undefined ? u.delta : scaled(u.delta, u.staleness), u.numExamples);
      this.lossSum += u.loss * u.numExamples;
      if (u.withinClip) this.withinClip += 1;
    }
    this.received = this.store.shared ? this.store.countUpdates(this.task.id, this.round.roundId) : this.accumulator.count;
  }

  /**
   * A shared store: reads the task's head and follows what other processes did. A new round or version
   * reloads everything (restore); new assignments or updates reload the counts and leases; a pause is
   * read. One query when nothing changed; nothing at all on a store this process owns.
   */
  private sync(force = false): void {
    if (!this.store.shared || this.stopped) return;
    // At most once per SYNC_MS of wall time: a request's several steps (and requests arriving together)
    // share one read. What must not be stale is decided by the store itself (see store.ts). `force`: a
    // request names something newer than this process has seen.
    const t = performance.now();
    if (!force && t - this.syncedAt < SYNC_MS) return;
    this.syncedAt = t;
    const head = this.store.head(this.task.id);
    if (!head) return;
    this.pausedNow = head.paused;
    if (head.version !== this.version || head.round.roundId !== this.round.roundId) return this.restore();
    // The round's own fields (state, deadline) as the store has them: a process changes them there first.
    this.round = head.round;
    if (head.assigned !== this.assigned || head.received !== this.received) {
      // Places other processes gave since the leases were read count as held until they are read again.
      this.othersAssigned += Math.max(0, head.assigned - this.assigned);
      this.assigned = head.assigned;
      this.received = head.received;
      this.leasesStale = true;
    }
    // The leases (one row per silent client) are read again at most every LEASES_MS: until then a client
    // that reported to another process still holds a place here, so this process gives out fewer, not more.
    if (!this.leasesStale || t - this.leasesAt < LEASES_MS) return;
    this.leasesStale = false;
    this.leasesAt = t;
    this.othersAssigned = 0;
    this.leases.clear();
    const assignments = this.task.rounds.buffer ? this.store.unreportedSince(this.task.id, this.now() - this.leases.leaseMs) : this.store.silentAssignments(this.task.id, this.round.roundId);
    for (const a of assignments) this.leases.assign(a.clientId, a.assignedAt);
  }

  private leasesStale = false;
  private leasesAt = -Infinity;
  /** Assignments other processes made since the leases were last read (see `sync`). */
  private othersAssigned = 0;

  /**
   * The protocol for the current round. Coordinates are bounded by the clip norm S (no coordinate of a
   * clipped update exceeds it), plus ten standard deviations of a client's noise share with distributed DP:
   * each client adds N(0, (z·S)²/minClients), so the survivors' sum (at least minClients of them) carries
   * all of the noise central DP would add, and nobody added it after seeing the sum.
   */
  private newSecureRound(): SecureRound {
    const sa = this.task.secureAggregation!;
    const r = this.round;
    const noiseStd = this.task.privacy ? (this.task.privacy.noiseMultiplier * sa.clipNorm) / Math.sqrt(r.minClients) : 0;
    const bound = sa.clipNorm + 10 * noiseStd;
    const maxClients = maxAssignments(r.targetClients);
    const params: SecAggParams = { taskId: this.task.id, roundId: r.roundId, curve: sa.curve, length: this.parameterCount, bound, scale: quantizationScale(bound, maxClients), minClients: r.minClients, threshold: sa.threshold, neighbours: sa.neighbours, noiseStd };
    return new SecureRound(params, { targetClients: r.targetClients, roundDeadlineAt: r.deadlineAt, phaseMs: sa.phaseMs, now: this.now });
  }

  /** The secure round's step in flight (closing a phase, or finishing the sum), if any. */
  private secureTick: Promise<void> | null = null;

  /** Closes the secure round's phase when due; when the protocol ends, commits its sum or fails the round. */
  private advanceSecure(): void {
    this.secureTick ??= this.secureStepDue().finally(() => {
      this.secureTick = null;
    });
  }

  private async secureStepDue(): Promise<void> {
    const secure = this.secure!;
    try {
      const result = await secure.advance();
      if (this.stopped || this.secure !== secure || result === undefined) return;
      if (result === null) return this.closeRound(null, `secure aggregation aborted: ${secure.server.aborted}`);
      // Equal weights: the mean of the survivors' clipped updates, or with DP over the round's fixed target.
      const denominator = this.task.privacy ? this.task.rounds.targetClients : result.count;
      this.commit(result.sum.map((v) => v / denominator), result.count, result.count);
    } catch (e) {
      if (!this.stopped && this.secure === secure) this.closeRound(null, `secure aggregation failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** Applies what is due and waits for it, secure aggregation's asynchronous steps included (the simulator's clock). */
  async settle(): Promise<void> {
    this.advance();
    while (this.secureTick) await this.secureTick;
  }

  /** The secure round's protocol for `roundId`, or a refusal naming why not. */
  private secureFor(roundId: number): SecureRound {
    if (!this.secure) throw new ApiFailure(409, 'not_secure_aggregation', 'this task does not aggregate securely', 'task');
    if (roundId !== this.round.roundId) throw new ApiFailure(409, 'round_closed', `round ${roundId} is not the current round (${this.round.roundId})`, 'round');
    return this.secure;
  }

  /** Runs a protocol step, answering a refusal as a 4xx that names it (`secagg_<reason>`). */
  private secureStep<T>(roundId: number, clientId: string, step: (s: SecureRound) => T): T {
    const secure = this.secureFor(roundId);
    if (!this.store.isAssigned(this.task.id, roundId, clientId)) throw new ApiFailure(403, 'secagg_not_in_round', `${clientId} was not assigned to round ${roundId}`, 'clientId');
    try {
      const out = step(secure);
      setImmediate(() => this.advanceLater());
      return out;
    } catch (e) {
      if (e instanceof SecAggRefusal) throw new ApiFailure(e.code === 'not_in_round' ? 403 : 409, `secagg_${e.code}`, e.message, 'body');
      throw e;
    }
  }

  secureKeys(roundId: number, m: KeysMessage): SecureRoundStatus {
    return this.secureStep(roundId, m.clientId, (s) => (s.server.acceptKeys(m, maxAssignments(this.round.targetClients)), s.status()));
  }

  secureRoster(roundId: number, clientId: string): Roster {
    return this.secureStep(roundId, clientId, (s) => s.server.rosterFor(clientId));
  }

  secureShares(roundId: number, m: SharesMessage): SecureRoundStatus {
    return this.secureStep(roundId, m.clientId, (s) => (s.server.acceptShares(m), s.status()));
  }

  secureInbox(roundId: number, clientId: string): Inbox {
    return this.secureStep(roundId, clientId, (s) => s.server.inboxFor(clientId));
  }

  secureMasked(roundId: number, clientId: string, masked: Uint32Array): SecureRoundStatus {
    return this.secureStep(roundId, clientId, (s) => (s.server.acceptMasked(clientId, masked), s.status()));
  }

  secureSurvivors(roundId: number, clientId: string): string[] {
    return this.secureStep(roundId, clientId, (s) => s.server.survivorsFor(clientId));
  }

  secureUnmask(roundId: number, m: UnmaskMessage): SecureRoundStatus {
    return this.secureStep(roundId, m.clientId, (s) => (s.server.acceptUnmask(m), s.status()));
  }

  /** The secure round's phase, for clients polling for the next step and for the operator. */
  secureStatus(roundId: number): SecureRoundStatus {
    return this.secureFor(roundId).status();
  }

  private snapshot(): RoundSnapshot {
    const r = this.round;
    return { state: r.state, liveAssigned: this.leases.count(this.now()) + this.othersAssigned, received: this.received, assigned: this.assigned, buffered: this.task.rounds.buffer !== undefined, minClients: r.minClients, targetClients: r.targetClients, deadlineAt: r.deadlineAt };
  }

  private newRoundRow(baseVersion: number, now: number): Omit<RoundRow, 'taskId' | 'roundId'> {
    const p = this.task.rounds;
    return { baseVersion, state: 'open', minClients: p.minClients, targetClients: p.targetClients, openedAt: now, deadlineAt: now + p.deadlineMs, closedAt: null, outcome: null };
  }

  private untilDeadline(floorMs: number): number {
    return Math.max(floorMs, Math.min(this.round.deadlineAt - this.now(), 5_000));
  }

  /**
   * Pace steering (core/pace.ts): how long a client told to wait stays away. The task can use about its
   * places (a round's ⌈1.3·target⌉, a buffer's K) per round or buffer, whose length is the mean of the last
   * few (from their first client to closing; the lease before any closed): so many check-ins a second,
   * spread over the clients seen in the last hour. A population that fits in one round is not spread.
   */
  pace(): number {
    const p = this.task.rounds;
    const places = p.buffer ? p.buffer.size : maxAssignments(p.targetClients);
    const population = this.recent.count(this.now());
    // A population that fits in one round's places needs no spreading: each client is wanted as soon as
    // the next round (or buffer) opens, which may be any moment (the round closes at its target), so it
    // asks again every 2 s: at most ⌈1.3·target⌉ clients, a load of nothing.
    if (population <= places) return WAIT_BETWEEN_ROUNDS_MS;
    const periodMs = this.periods.length > 0 ? this.periods.reduce((a, b) => a + b, 0) / this.periods.length : this.leases.leaseMs;
    const wantedPerSecond = places / Math.max(periodMs / 1000, 1e-3);
    return paceMs({ population, wantedPerSecond, floorMs: WAIT_BETWEEN_ROUNDS_MS, capMs: PACE_CAP_MS }, this.random);
  }
}

/** `delta` × `factor`, as a new vector (a stale update's share of the buffer). */
function scaled(delta: Float32Array, factor: number): Float32Array {
  return factor === 1 ? delta : delta.map((v) => v * factor);
}
