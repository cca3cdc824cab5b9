/**
 * Covey's SDK: lets any site's visitors join a Covey federation from its own pages. Their examples stay in
 * that site's origin (its IndexedDB); the trainer runs in a Web Worker loaded from the coordinator, and only
 * weight updates leave the browser.
 *
 * ```js
 * import { connect } from 'https://coordinator.example/sdk/covey.js';
 * const covey = await connect({ coordinator: 'https://coordinator.example', task: 'digits' });
 * await covey.addExamples([{ label: 7, features: pixels }]);
 * covey.on('round', (e) => console.log('round', e.roundId));
 * covey.join();
 * ```
 *
 * The coordinator must list the site's origin in the task's `allowedOrigins`.
 * @packageDocumentation
 */
import { encodeRow, featureCount } from '../core/features.ts';
import { CONDITIONS_SETTING, type TrainingConditions } from '../client/conditions-setting.ts';
import type { ConditionState } from '../client/eligibility.ts';
import type { TaskSummary } from '../core/protocol.ts';
import { ValidationError } from '../core/validate.ts';
import { ApiRequestError, CoordinatorApi } from '../client/coordinator-api.ts';
import { examplesFromCsv } from '../client/csv-import.ts';
import type { FederationEvent } from '../client/federation-client.ts';
import { Outbox, type DeliveryEvent } from '../client/outbox.ts';
import { CoveyStore, StorageFullError, type StoredExample } from '../client/store.ts';
import type { ModelVia, TrafficLedger, UploadRecord } from '../client/traffic.ts';
import type { WorkerBridge } from '../client/worker-bridge.ts';
import type { BackendName, BackendReport } from '../worker/protocol.ts';
import { createTrainerWorker } from './worker-loader.ts';

/** Why a call failed. */
export type CoveyErrorCode =
  /** The coordinator has no task of that id. */
  | 'unknown_task'
  /** No answer from the coordinator (offline, wrong URL, or it is down). */
  | 'coordinator_unreachable'
  /** The coordinator does not allow this site's origin for the task. */
  | 'origin_not_allowed'
  /** Examples that do not fit the task (shape, label, values); `field` says which. */
  | 'invalid_examples'
  /** The browser has no room left for the examples; nothing was stored. */
  | 'storage_full';

/** The one error type the SDK throws. */
export class CoveyError extends Error {
  override readonly name = 'CoveyError';
  constructor(
    readonly code: CoveyErrorCode,
    message: string,
    /** The field or example at fault, for `invalid_examples`. */
    readonly field?: string,
  ) {
    super(message);
  }
}

/** One labelled example. `label` is a class index or a label name of the task. */
export type Example =
  /** Image tasks: `features` are the task's input values (for digits, 784 pixel intensities 0–255). */
  | { label: number | string; features: ArrayLike<number> }
  /** Tabular tasks: one record, column name → value, as in the task's CSV. */
  | { label: number | string; record: Readonly<Record<string, string | number>> };

export interface ConnectOptions {
  /** The coordinator's base URL, such as `https://coordinator.example`. */
  coordinator: string;
  /** The task to join, such as `digits`. */
  task: string;
  /** Backend for the trainer to try first; otherwise WebGPU, then WebGL, then the CPU. */
  preferredBackend?: BackendName;
  /** Where the trainer worker script is; defaults to `trainer.worker.js` beside this module. */
  workerUrl?: string;
}

/** What a {@link Covey} reports, by event name. */
export interface CoveyEvents {
  /** The trainer chose its backend; `fallbacks` says why faster ones were not used. */
  backend: BackendReport;
  /** This browser trains for a round. */
  round: { roundId: number; modelVersion: number; offline: boolean };
  /** Training progress of the current round, 0–1. */
  progress: { fraction: number; epoch: number; epochs: number; loss: number };
  /** An update reached the coordinator (`duplicate`: it had arrived before and was counted once); `bytes` of it, in `codec`. */
  contributed: { roundId: number; duplicate: boolean; bytes: number; codec: string };
  /**
   * What crossed the network for a round, each time that changes (its model received, its update sent), and
   * in total: bytes of body sent and received, the upload's codec, and how the model came (`held`: it was
   * on this device already; `delta`: the difference from the version it had; `full`: whole).
   */
  traffic: TrafficEvent;
  /**
   * An update left this device and the coordinator answered it: its bytes, round, outcome and every
   * metadata field with its value, as recorded with the outbox item the frame was made from (the same record as {@link Covey.uploads}).
   */
  upload: UploadRecord;
  /** Something went wrong; the client keeps trying where it can. */
  error: { message: string };
  /** What the client is doing now, in words. */
  status: { phase: string; message: string };
  /**
   * The conditions this device trains under (the task's and {@link Covey.setConditions}'), as last read:
   * each met, unmet (with what it waits for, such as "waiting for the charger"), or `met: null` where this
   * browser cannot tell and the condition is skipped.
   */
  conditions: { states: ConditionState[] };
}

/** See {@link CoveyEvents.traffic}. */
export interface TrafficEvent {
  roundId: number;
  sentBytes: number;
  receivedBytes: number;
  codec: string | null;
  via: ModelVia | null;
  totalSentBytes: number;
  totalReceivedBytes: number;
}

/** A connection to one task of one coordinator. */
export interface Covey {
  /** The task as the coordinator describes it (labels, input, metrics, current model version). */
  readonly task: TaskSummary;
  /** Stores examples in this site's IndexedDB; all or none. Resolves with how many were added. */
  addExamples(batch: readonly Example[]): Promise<number>;
  /** Stores examples from CSV text with the task's columns (tabular tasks); all or none. */
  addCsv(text: string): Promise<number>;
  /** What crossed the network for this task from this browser: totals, per codec, per round (the latest 50). */
  traffic(): Promise<TrafficLedger>;
  /** What left this device for this task: the latest 50 uploads the coordinator answered, oldest first (see {@link CoveyEvents.upload}). */
  uploads(): Promise<UploadRecord[]>;
  /** How many examples this browser holds for the task. */
  exampleCount(): Promise<number>;
  /** Starts taking part in rounds until {@link Covey.leave} or the signal aborts. */
  join(options?: { signal?: AbortSignal }): void;
  /** Stops taking part; an update already made stays in the outbox and is still delivered. */
  leave(): void;
  /** The person's own conditions for training: only while charging, on an unmetered connection, while they are not using the page (see {@link CoveyEvents.conditions}). */
  setConditions(conditions: TrainingConditions): Promise<void>;
  /** Deletes this task's examples from this browser. */
  deleteData(): Promise<void>;
  /**
   * Leaves, and releases what the connection holds: its trainer worker, its IndexedDB connection and its
   * `online` listener (for single-page apps that connect more than once). Examples and the outbox stay
   * stored; a later {@link connect} picks them up. The object is not usable afterwards.
   */
  close(): void;
  /** Listens to an event; returns a function that stops listening. */
  on<K extends keyof CoveyEvents>(type: K, listener: (event: CoveyEvents[K]) => void): () => void;
}

/** Connects to a coordinator's task; throws a {@link CoveyError} when it cannot. */
export async function connect(options: ConnectOptions): Promise<Covey> {
  const store = await CoveyStore.open();
  const api = new CoordinatorApi(options.coordinator, store);
  let task: TaskSummary;
  try {
    task = await api.task(options.task);
  } catch (e) {
    store.close();
    throw await toCoveyError(e, options);
  }
  return new Connection(task, api, store, options);
}

async function toCoveyError(e: unknown, options: ConnectOptions): Promise<CoveyError> {
  if (e instanceof ApiRequestError) {
    if (e.code === 'unknown_task') return new CoveyError('unknown_task', `the coordinator has no task "${options.task}"`);
    if (e.code === 'origin_not_allowed') return new CoveyError('origin_not_allowed', e.message);
    if (e.status === undefined) {
      // A refused origin gets no CORS headers, so the page cannot read the refusal: it looks like no answer.
      // An opaque (no-cors) request tells the two apart: it resolves when the coordinator answered at all.
      if (await answersOpaquely(options.coordinator)) {
        return new CoveyError('origin_not_allowed', `${options.coordinator} answered but refused this page: most likely the task does not allow pages of ${globalThis.location?.origin ?? 'this origin'} (its operator can add the origin to the task's allowedOrigins), or the coordinator does not know the host name it was reached by (COVEY_PUBLIC_ORIGINS)`);
      }
      return new CoveyError('coordinator_unreachable', `no answer from ${options.coordinator}: ${e.message}`);
    }
  }
  return new CoveyError('coordinator_unreachable', e instanceof Error ? e.message : String(e));
}

async function answersOpaquely(coordinator: string): Promise<boolean> {
  try {
    await fetch(new URL('/healthz', coordinator), { mode: 'no-cors', cache: 'no-store' });
    return true;
  } catch {
    return false;
  }
}

/** The trainer's file name beside this module in the library build (a variable, so bundlers leave it be). */
const WORKER_FILE = 'trainer.worker.js';

type Listeners = { [K in keyof CoveyEvents]: Set<(event: CoveyEvents[K]) => void> };

class Connection implements Covey {
  private readonly listeners: Listeners = { backend: new Set(), round: new Set(), progress: new Set(), contributed: new Set(), traffic: new Set(), upload: new Set(), error: new Set(), status: new Set(), conditions: new Set() };
  /** Made at the first join, with the round loop: a page that never joins loads neither. */
  private bridge: WorkerBridge | undefined;
  private readonly workerUrl: string;
  private readonly preferredBackend: BackendName | undefined;
  private readonly outbox: Outbox;
  private session: AbortController | undefined;
  private closed = false;
  private readonly onOnline = () => void this.outbox.deliver({ force: true });

  constructor(
    readonly task: TaskSummary,
    private readonly api: CoordinatorApi,
    private readonly store: CoveyStore,
    options: ConnectOptions,
  ) {
    this.workerUrl = options.workerUrl ?? new URL(WORKER_FILE, import.meta.url).href;
    this.preferredBackend = options.preferredBackend;
    const coordinatorOrigin = new URL(api.baseUrl).origin;
    this.outbox = new Outbox(store, api, { onEvent: (e) => this.onDelivery(e), owns: (item) => new URL(item.url).origin === coordinatorOrigin });
    globalThis.addEventListener?.('online', this.onOnline);
    void this.outbox.deliver({ force: true });
  }

  async addExamples(batch: readonly Example[]): Promise<number> {
    const examples = batch.map((example, i) => this.toStored(example, i));
    return this.save(examples);
  }

  async addCsv(text: string): Promise<number> {
    try {
      return await this.save(examplesFromCsv(text, this.task));
    } catch (e) {
      if (e instanceof ValidationError) throw new CoveyError('invalid_examples', e.message, e.field);
      throw e;
    }
  }

  exampleCount(): Promise<number> {
    return this.store.count(this.task.id);
  }

  traffic(): Promise<TrafficLedger> {
    return this.store.traffic(this.task.id);
  }

  async uploads(): Promise<UploadRecord[]> {
    return (await this.store.traffic(this.task.id)).uploads ?? [];
  }

  join(options: { signal?: AbortSignal } = {}): void {
    const { signal } = options;
    if (this.session || this.closed || signal?.aborted) return;
    const session = (this.session = new AbortController());
    // The caller's signal ends this session only, not a later one.
    const stop = () => {
      if (this.session === session) this.leave();
    };
    signal?.addEventListener('abort', stop, { once: true });
    // The round loop (codecs, model deltas) and the worker bridge load when someone joins, not with the page that embeds Covey.
    Promise.all([import('../client/federation-client.ts'), import('../client/worker-bridge.ts')])
      .then(([{ FederationClient }, { WorkerBridge }]) => {
        if (this.closed || session.signal.aborted) return;
        const workerUrl = this.workerUrl;
        this.bridge ??= new WorkerBridge(() => createTrainerWorker(workerUrl), this.preferredBackend);
        return new FederationClient({ api: this.api, store: this.store, bridge: this.bridge, outbox: this.outbox, taskId: this.task.id, onEvent: (e) => this.onFederation(e) }).run(session.signal);
      })
      .catch((e: unknown) => this.emit('error', { message: e instanceof Error ? e.message : String(e) }))
      .finally(() => {
        // A session that ended on its own (its worker could not start, say) does not block the next join().
        if (this.session === session) this.session = undefined;
        signal?.removeEventListener('abort', stop);
      });
  }

  leave(): void {
    if (!this.session) return;
    this.session.abort(new DOMException('left the federation', 'AbortError'));
    this.session = undefined;
    // What waits in the outbox is still sent, on the outbox's own schedule.
    void this.outbox.deliver();
  }

  /**
   * The person's own conditions for training (on top of the task's): only while charging, on an unmetered
   * connection, while they are not using the page. Kept in this origin's IndexedDB; applies from the next round.
   */
  setConditions(conditions: TrainingConditions): Promise<void> {
    return this.store.putSetting(CONDITIONS_SETTING, { ...conditions });
  }

  deleteData(): Promise<void> {
    return this.store.deleteTask(this.task.id);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.outbox.stop();
    this.leave();
    globalThis.removeEventListener?.('online', this.onOnline);
    this.bridge?.terminate();
    this.store.close();
  }

  on<K extends keyof CoveyEvents>(type: K, listener: (event: CoveyEvents[K]) => void): () => void {
    const set = this.listeners[type] as Set<(event: CoveyEvents[K]) => void>;
    set.add(listener);
    return () => set.delete(listener);
  }

  private emit<K extends keyof CoveyEvents>(type: K, event: CoveyEvents[K]): void {
    for (const listener of this.listeners[type] as Set<(event: CoveyEvents[K]) => void>) listener(event);
  }

  private async save(examples: Omit<StoredExample, 'id'>[]): Promise<number> {
    try {
      await this.store.add(examples);
    } catch (e) {
      if (e instanceof StorageFullError) throw new CoveyError('storage_full', e.message);
      throw e;
    }
    return examples.length;
  }

  private toStored(example: Example, i: number): Omit<StoredExample, 'id'> {
    const where = `examples[${i}]`;
    const { input, labels } = this.task;
    const label = typeof example.label === 'string' ? labels.indexOf(example.label) : example.label;
    if (!Number.isInteger(label) || label < 0 || label >= labels.length) {
      throw new CoveyError('invalid_examples', `${where}.label must be 0–${labels.length - 1} or one of ${labels.join(', ')}`, `${where}.label`);
    }
    const base = { taskId: this.task.id, label, source: 'imported' as const, addedAt: Date.now() };
    if ('record' in example) {
      if (input.kind !== 'tabular') throw new CoveyError('invalid_examples', `${where}: this task takes features, not records`, where);
      const row = Object.fromEntries(Object.entries(example.record).map(([k, v]) => [k, String(v)]));
      try {
        return { ...base, features: encodeRow(input, row) };
      } catch (e) {
        if (e instanceof ValidationError) throw new CoveyError('invalid_examples', `${where}.record.${e.message}`, `${where}.record.${e.field}`);
        throw e;
      }
    }
    const n = featureCount(input);
    const values = example.features;
    if (!values || values.length !== n) throw new CoveyError('invalid_examples', `${where}.features must have ${n} values, not ${values?.length ?? 0}`, `${where}.features`);
    for (let k = 0; k < n; k++) {
      const v = values[k]!;
      if (!Number.isFinite(v) || (input.kind === 'image' && (v < 0 || v > 255))) {
        throw new CoveyError('invalid_examples', `${where}.features[${k}] is ${v}; ${input.kind === 'image' ? 'pixels are 0–255' : 'values must be finite'}`, `${where}.features`);
      }
    }
    return { ...base, features: input.kind === 'image' ? Uint8Array.from(values, Math.round) : Float32Array.from(values) };
  }

  private onFederation(e: FederationEvent): void {
    switch (e.type) {
      case 'backend':
        return this.emit('backend', e.report);
      case 'round':
        return this.emit('round', { roundId: e.roundId, modelVersion: e.modelVersion, offline: e.offline });
      case 'progress':
        return this.emit('progress', { fraction: e.fraction, epoch: e.epoch, epochs: e.epochs, loss: e.loss });
      case 'phase':
        return this.emit('status', { phase: e.phase, message: e.message });
      case 'error':
        return this.emit('error', { message: e.message });
      case 'conditions':
        return this.emit('conditions', { states: e.states });
      case 'model':
        return void this.emitTraffic(e.roundId);
      case 'aggregated':
        this.emit('contributed', { roundId: e.roundId, duplicate: false, bytes: e.bytes, codec: 'secagg' });
        void this.emitUpload(`secagg-${e.roundId}`);
        return void this.emitTraffic(e.roundId);
      case 'task':
      case 'queued':
        return;
    }
  }

  /** The round's line of the traffic ledger, and the totals, as they stand now. */
  private async emitTraffic(roundId: number): Promise<void> {
    const ledger = await this.store.traffic(this.task.id).catch(() => undefined); // closed meanwhile
    const round = ledger?.rounds.find((r) => r.roundId === roundId);
    if (!ledger || !round) return;
    this.emit('traffic', { roundId, sentBytes: round.sentBytes, receivedBytes: round.receivedBytes, codec: round.codec, via: round.via, totalSentBytes: ledger.sentBytes, totalReceivedBytes: ledger.receivedBytes });
  }

  private onDelivery(e: DeliveryEvent): void {
    if (e.type === 'delivered') {
      this.emit('contributed', { roundId: e.item.roundId, duplicate: e.duplicate, bytes: e.item.bytes, codec: e.item.codec ?? 'f32' });
      void this.emitTraffic(e.item.roundId);
    } else if (e.type === 'rejected') this.emit('error', { message: `update for round ${e.item.roundId} not accepted: ${e.reason}` });
    if (e.type !== 'retrying') void this.emitUpload(e.item.updateId);
  }

  private async emitUpload(updateId: string): Promise<void> {
    const ledger = await this.store.traffic(this.task.id).catch(() => undefined); // closed meanwhile
    const record = [...(ledger?.uploads ?? [])].reverse().find((u) => u.updateId === updateId);
    if (record) this.emit('upload', record);
  }
}
