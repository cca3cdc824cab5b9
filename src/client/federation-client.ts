/**
 * Takes part in a task's federation from this browser: check in, train the round's model in the worker on
 * the person's stored examples, put the update in the outbox, deliver it, and again, until the signal
 * aborts. Offline, it trains once against the last round and model it knew of, and the update waits in
 * the outbox. Only update frames (delta + aggregate numbers) and small JSON leave the page.
 */
import type { Codec } from '../core/codec.ts';
import { codecFor } from '../core/codecs/index.ts';
import { compressWithFeedback } from '../core/error-feedback.ts';
import { isPrivateConfig, privatizeUpdate } from '../core/privacy/client-dp.ts';
import { isTaskSummary, modelPaths, type TaskSummary, type TrainingConfig } from '../core/protocol.ts';
import { frameWithPayload, type UpdateMeta } from '../core/update-frame.ts';
import type { BackendReport, HeldOutEvaluation } from '../worker/protocol.ts';
import { ApiRequestError, type CoordinatorApi } from './coordinator-api.ts';
import type { Outbox } from './outbox.ts';
import { downloadModel, type HeldModel } from './model-download.ts';
import { backoffDelayMs, sleep } from './retry-policy.ts';
import { addDownload, addUpload, type ModelVia } from './traffic.ts';
import type { SecAggParams } from '../core/secagg/protocol.ts';
import { randomId, StorageFullError, type CoveyStore } from './store.ts';
import type { WorkerBridge } from './worker-bridge.ts';
import { browserSignals, CONDITIONS_SETTING, eligible, readConditions, untilEligible, wantedConditions, type ConditionName, type ConditionState, type DeviceSignals } from './eligibility.ts';
import { isTrainingConditions } from './conditions-setting.ts';

export type Phase = 'checking-in' | 'waiting' | 'training' | 'uploading' | 'offline' | 'retrying';

export type FederationEvent =
  | { type: 'phase'; phase: Phase; message: string }
  | { type: 'backend'; report: BackendReport }
  | { type: 'task'; task: TaskSummary; offline: boolean }
  | { type: 'round'; roundId: number; modelVersion: number; offline: boolean }
  /** The round's model: held already, or received as a delta or whole (`bytes` of body). */
  | { type: 'model'; roundId: number; modelVersion: number; via: ModelVia; bytes: number }
  | { type: 'progress'; fraction: number; epoch: number; epochs: number; loss: number }
  | { type: 'queued'; roundId: number; updateId: string; bytes: number; codec: string; loss: number; numExamples: number; trainMs: number; heldOut?: HeldOutEvaluation }
  /** Secure aggregation: this client's masked update is in the round's sum (`bytes` of it sent). */
  | { type: 'aggregated'; roundId: number; bytes: number; survivors: number }
  /** When the device trains: each condition the task or the person asks for, met, unmet, or skipped (the browser cannot tell). */
  | { type: 'conditions'; states: ConditionState[] }
  | { type: 'error'; message: string };

/** What the round loop needs of the person's storage: small, so Node (a simulator, a test) can supply its own. */
export type FederationStore = Pick<CoveyStore, 'clientId' | 'countTraining' | 'readSplit' | 'setting' | 'putSetting' | 'putPersonalModel' | 'recordTraffic'>;
/** What it needs of a trainer: the browser's is the worker bridge. */
export type Trainer = Pick<WorkerBridge, 'backend' | 'train' | 'onBackend'>;
/** What it needs of the coordinator and the outbox. */
export type FederationApi = Pick<CoordinatorApi, 'checkin' | 'task' | 'url' | 'json' | 'binary' | 'secureStep'>;
export type FederationOutbox = Pick<Outbox, 'drain' | 'pending' | 'enqueueWithResidual'>;

export interface FederationClientOptions {
  api: FederationApi;
  store: FederationStore;
  bridge: Trainer;
  outbox: FederationOutbox;
  taskId: string;
  onEvent: (e: FederationEvent) => void;
  /** Where charging, the connection and idleness are read from (client/eligibility.ts); the browser's by default. */
  signals?: DeviceSignals;
}

/** A round to train for: from a check-in, or (offline) from the last task summary seen. */
interface Assignment {
  roundId: number;
  modelVersion: number;
  config: TrainingConfig;
  offline: boolean;
  /** Secure aggregation: the round's protocol; the update goes through it instead of the outbox. */
  secureAggregation?: SecAggParams;
}

const MIN_OUTBOX_WAIT_MS = 1_000;

const isOffline = (e: unknown) => e instanceof ApiRequestError && e.status === undefined;

export class FederationClient {
  private readonly taskKey: string;
  private readonly trainedKey: string;

  private readonly signals: DeviceSignals;

  constructor(private readonly o: FederationClientOptions) {
    this.taskKey = `task:${o.taskId}`;
    this.trainedKey = `trained-round:${o.taskId}`;
    this.signals = o.signals ?? browserSignals();
  }

  /** The conditions the task or the person asks for. */
  private async wanted(task: TaskSummary): Promise<ConditionName[]> {
    return wantedConditions(task.conditions, await this.o.store.setting(CONDITIONS_SETTING, isTrainingConditions));
  }

  /** Waits until the device may train (every wanted condition met or skipped), saying what it waits for. */
  private async untilEligible(task: TaskSummary, signal: AbortSignal): Promise<void> {
    const wanted = await this.wanted(task);
    const emit = this.o.onEvent;
    if (wanted.length === 0) return emit({ type: 'conditions', states: [] });
    await untilEligible(wanted, this.signals, signal, (states) => {
      emit({ type: 'conditions', states });
      const unmet = states.filter((s) => s.met === false);
      if (unmet.length > 0) emit({ type: 'phase', phase: 'waiting', message: `Waiting: ${unmet.map((s) => s.waitingFor).join('; ')}` });
    });
  }

  /** Runs rounds until `signal` aborts; resolves then. Failures are reported as events and retried. */
  async run(signal: AbortSignal): Promise<void> {
    const emit = this.o.onEvent;
    const clientId = await this.o.store.clientId();
    let report = await this.o.bridge.backend();
    emit({ type: 'backend', report });
    // The worker settles its backend at the first job, for the task's model: later check-ins say which.
    const unsubscribe = this.o.bridge.onBackend((settled) => {
      report = settled;
      emit({ type: 'backend', report });
    });
    try {
      await this.loop(clientId, () => report, signal);
    } finally {
      unsubscribe();
    }
  }

  private async loop(clientId: string, report: () => BackendReport, signal: AbortSignal): Promise<void> {
    const emit = this.o.onEvent;
    let failures = 0;
    while (!signal.aborted) {
      try {
        await this.step(clientId, report(), signal);
        failures = 0;
      } catch (e) {
        if (signal.aborted) break;
        if (isOffline(e)) {
          // Never for a task that aggregates securely: its update may leave only masked, in a live round.
          if (!(await this.isSecureTask())) await this.trainOffline(clientId, signal).catch((err: unknown) => emit({ type: 'error', message: errorText(err) }));
          emit({ type: 'phase', phase: 'offline', message: 'Offline: waiting for the network' });
          await this.untilOnline(failures++, signal);
          continue;
        }
        // A busy or throttling coordinator says when to come back (Retry-After): never sooner than that.
        const delay = Math.max(backoffDelayMs(failures++), e instanceof ApiRequestError && e.retryAfterS !== undefined ? e.retryAfterS * 1000 : 0);
        emit({ type: 'error', message: errorText(e) });
        emit({ type: 'phase', phase: 'retrying', message: `Trying again in ${Math.ceil(delay / 1000)} s` });
        await sleep(delay, signal).catch(() => undefined);
      }
    }
  }

  private async step(clientId: string, report: BackendReport, signal: AbortSignal): Promise<void> {
    const emit = this.o.onEvent;
    const task = await this.o.api.task(this.o.taskId, signal);
    await this.o.store.putSetting(this.taskKey, task);
    emit({ type: 'task', task, offline: false });
    await this.o.outbox.drain({ signal });
    // Only a device that may train takes a place: a waiting one would hold it from others.
    await this.untilEligible(task, signal);
    emit({ type: 'phase', phase: 'checking-in', message: 'Checking in with the coordinator' });
    // Held-out examples are never trained on: only the rest count as what this client can train with.
    const exampleCount = await this.o.store.countTraining(this.o.taskId);
    const answer = await this.o.api.checkin(this.o.taskId, { clientId, exampleCount, backend: report.backend }, signal);
    if (answer.status === 'wait') {
      emit({ type: 'phase', phase: 'waiting', message: `Waiting: ${answer.reason}` });
      await sleep(answer.retryAfterMs, signal);
      return;
    }
    // Trained for this round already, and the update waits to be sent (the coordinator was busy or failed):
    // wait for its next try rather than train again and queue a second update the round would refuse.
    const waiting = (await this.o.outbox.pending()).find((i) => i.taskId === this.o.taskId && i.roundId === answer.roundId);
    if (waiting) {
      const at = Math.max(waiting.nextAttemptAt, Date.now() + MIN_OUTBOX_WAIT_MS);
      emit({ type: 'phase', phase: 'waiting', message: `The update for round ${answer.roundId} waits to be sent; next try at ${new Date(at).toLocaleTimeString()}` });
      await sleep(at - Date.now(), signal);
      return;
    }
    await this.contribute(task, clientId, { roundId: answer.roundId, modelVersion: answer.modelVersion, config: answer.config, offline: false, ...(answer.secureAggregation ? { secureAggregation: answer.secureAggregation } : {}) }, signal);
    emit({ type: 'phase', phase: 'uploading', message: 'Sending the update' });
    await this.o.outbox.drain({ signal });
  }

  private async isSecureTask(): Promise<boolean> {
    const task = await this.o.store.setting(this.taskKey, isTaskSummary);
    // Unknown (never online): not known to be plain either, so nothing is trained offline.
    return !task || task.secureAggregation !== undefined;
  }

  /** Trains once for the last round this browser knew of, unless it already has; the update waits in the outbox. */
  private async trainOffline(clientId: string, signal: AbortSignal): Promise<void> {
    const task = await this.o.store.setting(this.taskKey, isTaskSummary);
    const round = task?.round;
    if (!task || !round || (await this.o.store.setting(this.trainedKey, isString)) === trainedMark(task, round.id)) return;
    // Paused by its operator when last seen: nothing is wanted until it is resumed.
    if (task.paused) return;
    if ((await this.o.store.countTraining(this.o.taskId)) === 0) return;
    // Offline too, only when the device may train; it tries again when it next finds itself offline.
    const states = await readConditions(await this.wanted(task), this.signals);
    this.o.onEvent({ type: 'conditions', states });
    if (!eligible(states)) return;
    this.o.onEvent({ type: 'task', task, offline: true });
    await this.contribute(task, clientId, { roundId: round.id, modelVersion: round.baseVersion, config: task.config, offline: true }, signal);
  }

  private async contribute(task: TaskSummary, clientId: string, a: Assignment, signal: AbortSignal): Promise<void> {
    const emit = this.o.onEvent;
    emit({ type: 'round', roundId: a.roundId, modelVersion: a.modelVersion, offline: a.offline });
    const codec = codecFor(a.config.codec);
    if (!codec) throw new Error(`the coordinator asked for codec "${a.config.codec}", which this client does not have`);
    const model = await this.receiveModel(task, a, signal);
    const featureCount = task.inputShape.reduce((x, y) => x * y, 1);
    const { train: data, heldOut } = await this.o.store.readSplit(this.o.taskId, featureCount);
    const sameKind = heldOut.count > 0 && heldOut.features instanceof Float32Array === data.features instanceof Float32Array;
    emit({ type: 'phase', phase: 'training', message: `Training model v${a.modelVersion} on ${data.count} examples (round ${a.roundId}${a.offline ? ', offline' : ''})` });
    const result = await this.o.bridge.train(
      {
        modelUrl: this.o.api.url(modelPaths(task.id, a.modelVersion, task.lineage).modelJson),
        model: { topology: model.topology, weightSpecs: model.weightSpecs, weights: model.weights.slice().buffer },
        config: a.config,
        inputShape: task.inputShape,
        numClasses: task.labels.length,
        features: data.features.buffer as ArrayBuffer,
        dtype: data.features instanceof Float32Array ? 'float32' : 'uint8',
        labels: data.labels.buffer as ArrayBuffer,
        count: data.count,
        featureScale: task.input.kind === 'image' ? task.input.scale : 1,
        ...(sameKind ? { heldOut: { features: heldOut.features.buffer as ArrayBuffer, labels: heldOut.labels.buffer as ArrayBuffer, count: heldOut.count } } : {}),
      },
      (p) => emit({ type: 'progress', fraction: (p.epoch * p.batchesPerEpoch + p.batch) / (p.epochs * p.batchesPerEpoch), epoch: p.epoch + 1, epochs: p.epochs, loss: p.loss }),
      signal,
    );
    // Left while the trainer finished: nothing of this round is kept or sent.
    signal.throwIfAborted();
    const e = result.evaluation;
    const personalAccuracy = e?.personalAccuracy === undefined ? {} : { personalAccuracy: clamp01(e.personalAccuracy) ?? 0 };
    const evaluation = e && Number.isFinite(e.loss) ? { eval: { accuracy: clamp01(e.accuracy) ?? 0, loss: e.loss, count: e.count, ...personalAccuracy } } : {};
    // A personal model that does not fit is reported, never a reason to hold the update back.
    if (result.personalWeights) {
      await this.o.store.putPersonalModel(task.id, {
        lineage: task.lineage,
        baseVersion: a.modelVersion,
        weights: result.personalWeights,
        accuracy: e?.personalAccuracy ?? null,
        globalAccuracy: e?.accuracy ?? null,
        heldOut: e?.count ?? 0,
        createdAt: Date.now(),
      }).catch((err: unknown) => {
        if (!(err instanceof StorageFullError)) throw err;
        this.o.onEvent({ type: 'error', message: err.message });
      });
    }
    // With differential privacy the update is clipped (and in local mode noised) here, before it leaves the
    // device, and it goes alone: no loss, accuracy, example count or evaluation of this person's data.
    const { delta, withinClip } = privatizeUpdate(result.delta, a.config);
    if (task.secureAggregation && !a.secureAggregation) throw new Error('this task aggregates securely, and this round came without its protocol: the update is not sent');
    if (a.secureAggregation) {
      const say = (message: string) => emit({ type: 'phase', phase: 'uploading', message });
      // Loaded only for a task that aggregates securely: its cryptography stays out of everyone else's first load.
      const { runSecureRound } = await import('./secure-aggregation.ts');
      const done = await runSecureRound(this.o.api, a.secureAggregation, clientId, delta, signal, say);
      await this.o.store.recordTraffic(task.id, (l) => addUpload(l, { updateId: `secagg-${a.roundId}`, roundId: a.roundId, codec: 'secagg', bytes: done.bytes, payloadBytes: done.bytes, meta: { clientId, maskedWords: a.secureAggregation!.length }, outcome: `in the sum of ${done.survivors}` }));
      emit({ type: 'aggregated', roundId: a.roundId, ...done });
      return;
    }
    const meta: UpdateMeta = isPrivateConfig(a.config)
      ? { clientId, baseVersion: a.modelVersion, backend: result.backend, ...(withinClip === undefined ? {} : { withinClip }) }
      : { clientId, baseVersion: a.modelVersion, numExamples: result.numExamples, loss: result.loss, accuracy: clamp01(result.accuracy), backend: result.backend, trainMs: Math.round(result.trainMs), ...evaluation };
    const queued = await this.enqueue(task, a.roundId, codec, task.lineage ? { ...meta, lineage: task.lineage } : meta, delta);
    emit({ type: 'queued', roundId: a.roundId, ...queued, codec: codec.name, loss: result.loss, numExamples: result.numExamples, trainMs: result.trainMs, ...(result.evaluation ? { heldOut: result.evaluation } : {}) });
  }

  /** The round's model, from what this browser holds when it can (offline: only from there); the bytes are recorded. */
  private async receiveModel(task: TaskSummary, a: Assignment, signal: AbortSignal): Promise<HeldModel> {
    const got = await downloadModel(this.o.api, this.o.store, task, a.modelVersion, signal);
    await this.o.store.recordTraffic(task.id, (l) => addDownload(l, a.roundId, got.via, got.bytes));
    this.o.onEvent({ type: 'model', roundId: a.roundId, modelVersion: a.modelVersion, via: got.via, bytes: got.bytes });
    return got.model;
  }

  /**
   * Encodes the update with the round's codec and puts it in the outbox. With a codec that drops part of it
   * (top-k), the part it drops is added to the next update (error feedback); that residual is stored with
   * the outbox item in one transaction, and belongs to this lineage and codec only.
   */
  private async enqueue(task: TaskSummary, roundId: number, codec: Codec, meta: UpdateMeta, delta: Float32Array): Promise<{ updateId: string; bytes: number }> {
    // The id is made now, before the first try, so that a retry after a lost answer is counted once.
    const updateId = `u-${randomId()}`;
    const url = this.o.api.url(`/v1/tasks/${encodeURIComponent(task.id)}/rounds/${roundId}/updates/`);
    const item = await this.o.outbox.enqueueWithResidual(task.id, (kept) => {
      const residual = codec.needsErrorFeedback && kept?.lineage === task.lineage && kept.codec === codec.name ? kept.values : null;
      const compressed = compressWithFeedback(codec, delta, residual);
      const frame = frameWithPayload(codec, meta, compressed.payload);
      return {
        item: { updateId, taskId: task.id, roundId, url, frame: frame.buffer, codec: codec.name, meta: { ...meta }, payloadBytes: compressed.payload.byteLength },
        residual: compressed.residual && { lineage: task.lineage, codec: codec.name, values: compressed.residual },
      };
    });
    await this.o.store.putSetting(this.trainedKey, trainedMark(task, roundId));
    return { updateId, bytes: item.frame.byteLength };
  }

  /** Waits for the `online` event when the browser knows it is offline, else backs off (the coordinator may be down). */
  private async untilOnline(attempt: number, signal: AbortSignal): Promise<void> {
    if (typeof navigator !== 'undefined' && !navigator.onLine) {
      await new Promise<void>((resolve) => {
        const done = () => {
          removeEventListener('online', done);
          signal.removeEventListener('abort', done);
          resolve();
        };
        addEventListener('online', done);
        signal.addEventListener('abort', done);
      });
      return;
    }
    await sleep(backoffDelayMs(attempt), signal).catch(() => undefined);
  }
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));
const clamp01 = (x: number): number | undefined => (Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : undefined);
const isString = (v: unknown): v is string => typeof v === 'string';
/** Which round of which lineage this browser last trained for (round ids start again in a new lineage). */
const trainedMark = (task: TaskSummary, roundId: number): string => `${task.lineage}/${roundId}`;
