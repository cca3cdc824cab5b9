/**
 * What the coordinator keeps, and the contract any store keeps (sqlite-store.ts is the embedded one):
 * - a write the protocol acknowledges (an accepted update, an assignment, a closed round) is durable when
 *   the method returns;
 * - each multi-row change (`initialiseTask`, `closeRound`) is one transaction: all of it or none;
 * - reads see every write made before them.
 * Methods are synchronous: within one process the federation's rules (check, then write) run without
 * interleaving. A store several processes share (`shared`: PostgreSQL) also keeps, against the others:
 * - an update is stored only into a round that still takes updates (else StoreConflict 'round_closed'),
 *   and a round's state changes only from the state its caller saw (compare-and-set), so a round closes
 *   exactly once and nothing is stored into it after its aggregate was read;
 * - the process that moves a round to 'aggregating' holds the task's lock until it closes the round; a
 *   round left 'aggregating' by a process that died is taken over by whichever process gets the lock.
 */
import type { HistoryPoint, MetricName, RoundState } from '../core/protocol.ts';

export interface RoundRow {
  taskId: string;
  roundId: number;
  baseVersion: number;
  state: RoundState;
  minClients: number;
  targetClients: number;
  openedAt: number;
  deadlineAt: number;
  closedAt: number | null;
  /** 'aggregated' or 'failed' once closed. */
  outcome: string | null;
}

export interface StoredUpdate {
  updateId: string;
  clientId: string;
  numExamples: number;
  loss: number;
  /** The decoded delta, float32 little-endian. */
  delta: Float32Array;
  /** Adaptive clipping: whether the client reported its update within the round's clip norm (null: not reported). */
  withinClip?: boolean | null;
  /** Buffered mode: the factor the delta is scaled by for its staleness (core/staleness.ts); null in synchronous rounds (1). */
  staleness?: number | null;
}

export interface NewUpdate extends StoredUpdate {
  taskId: string;
  roundId: number;
  backend: string | null;
  bytes: number;
  /** SHA-256 of the upload body, hex. */
  bodySha256: string;
  /** The model version the update was trained from (in buffered mode it may be older than the buffer's). */
  baseVersion: number;
  /** Federated evaluation of the base model on the client's held-out examples, when it sent one. */
  eval?: { accuracy: number; loss: number; count: number; personalAccuracy?: number };
  /** For the operator: the client's training time and the update's L2 norm (left out for private tasks). */
  trainMs?: number | null;
  norm?: number | null;
}

/** One round (or buffer) as the operator's dashboard shows it, from what the store holds. */
export interface RoundActivity {
  roundId: number;
  baseVersion: number;
  state: RoundState;
  outcome: string | null;
  openedAt: number;
  closedAt: number | null;
  assigned: number;
  /** Updates filed under the round (a failed round's go on into the next, which then holds them). */
  reported: number;
  /** Of `reported`: updates carried in from an earlier round that failed (their clients hold no place in this one). */
  carried: number;
  /** Assigned clients whose update came: in this round, or in the next where this one failed and carried it. */
  answered: number;
  /** Clients in the version this round made (secure aggregation writes no single updates); null if it made none. */
  versionClients: number | null;
  bytesUp: number;
  /** Training times clients reported, ms, sorted. */
  trainMs: number[];
  /** Updates by the backend that trained them. */
  backends: Record<string, number>;
  /** L2 norms of the round's updates, sorted (null for private tasks). */
  norms: number[];
}

/** Another process (or request) got there first: the update was not stored, or the round not changed. */
export class StoreConflict extends Error {
  constructor(
    readonly reason: 'round_closed' | 'client_already_reported' | 'update_id_reused',
    message: string,
  ) {
    super(message);
  }
}

/** What a process re-reads of a task to follow the others sharing its store (Federation.sync). */
export interface TaskHead {
  round: RoundRow;
  version: number;
  /** Assignments and stored updates of the current round. */
  assigned: number;
  received: number;
  paused: boolean;
}

/** What closing a round writes: the new version (null when the round failed) and the next round. */
export interface CloseRound {
  taskId: string;
  roundId: number;
  now: number;
  /** The state the caller saw the round in: the close happens only from it (see StoreConflict). */
  from: RoundState;
  result: { version: number; weights: Float32Array; numClients: number; numExamples: number; clientLoss: number | null; optimizerState?: Uint8Array | null; privacy?: string | null } | null;
  next: Omit<RoundRow, 'taskId' | 'roundId'>;
  /** A round that failed for lack of updates: when the next trains the same version, its updates go on into it. */
  carryUpdates?: boolean;
}

export interface CoordinatorStore {
  close(): void;
  /** Whether several coordinator processes may share this store (the federation then re-reads before deciding). */
  readonly shared: boolean;

  // Model versions and their lineage.
  latestVersion(taskId: string): { version: number; weights: Float32Array; optimizerState: Uint8Array | null; privacy: string | null } | null;
  hasVersion(taskId: string, version: number): boolean;
  /** A version's weights as stored (float32 little-endian), or null. */
  modelWeights(taskId: string, version: number): Buffer | null;
  modelVector(taskId: string, version: number): Float32Array | null;
  /** The name of this federation's history of versions (made once per task). */
  lineage(taskId: string): string;
  /** Version 0 and the first round, unless the task has them already. */
  initialiseTask(taskId: string, weights: Float32Array, firstRound: Omit<RoundRow, 'taskId' | 'roundId'>): void;

  // Clients' keys.
  clientKey(clientId: string): string | null;
  /** Registers a client id's public key unless it has one; whether it was registered. */
  registerClientKey(clientId: string, publicKey: string, now: number): boolean;

  // Rounds and assignments.
  currentRound(taskId: string): RoundRow | null;
  round(taskId: string, roundId: number): RoundRow | null;
  setRoundDeadline(taskId: string, roundId: number, deadlineAt: number): void;
  /** Moves the round from `from` to `to`; false (and nothing changes) when it was no longer in `from`. */
  setRoundState(taskId: string, roundId: number, from: RoundState, to: RoundState): boolean;
  /** Moves the round from `from` to 'aggregating' and takes the task's lock; false when another process got there first. */
  claimAggregation(taskId: string, roundId: number, from: RoundState): boolean;
  /** A round found 'aggregating': true (lock taken) when its owner is gone, so this process aggregates it. */
  takeOverAggregation(taskId: string, roundId: number): boolean;
  /** Lets go of the task's lock (closeRound does, too). */
  releaseTask(taskId: string): void;
  /** The current round, latest version and their counts, in one read. */
  head(taskId: string): TaskHead | null;
  assign(taskId: string, roundId: number, clientId: string, now: number): void;
  reassign(taskId: string, roundId: number, clientId: string, now: number): void;
  lastAssignment(taskId: string, clientId: string): { assignedAt: number; reported: boolean } | null;
  unreportedSince(taskId: string, since: number): { clientId: string; assignedAt: number }[];
  /** Distinct clients assigned (or reporting) since `since`, with when last. */
  clientsSince(taskId: string, since: number): { clientId: string; at: number }[];
  isAssigned(taskId: string, roundId: number, clientId: string): boolean;
  silentAssignments(taskId: string, roundId: number): { clientId: string; assignedAt: number }[];
  lapsedSince(taskId: string, clientId: string, fromRound: number, beforeRound: number, leaseMs: number, now: number): boolean;
  countAssigned(taskId: string, roundId: number): number;
  /** Clients the task has ever seen (the population a private round is sampled from). */
  countClients(taskId: string): number;

  // Updates.
  findUpdate(updateId: string): { taskId: string; roundId: number; clientId: string; bodySha256: string | null } | null;
  hasClientUpdate(taskId: string, roundId: number, clientId: string): boolean;
  /**
   * Durably records an accepted update; returns once it is committed. Throws StoreConflict when its round
   * no longer takes updates, or the client's update (or the id) is there already.
   */
  insertUpdate(u: NewUpdate, now: number): void;
  countUpdates(taskId: string, roundId: number): number;
  /** The round's updates one at a time, oldest first. */
  iterateUpdates(taskId: string, roundId: number): Iterable<StoredUpdate>;
  /**
   * Closes a round and opens the next in one transaction: the new version (if it aggregated), the closed
   * round, the next round, and the spent deltas dropped (or, `carryUpdates`, moved on into the next round).
   * False (nothing written) when the round was no longer in `args.from`: another process closed it.
   */
  closeRound(args: CloseRound): boolean;

  // The operator's controls and view.
  isPaused(taskId: string): boolean;
  setPaused(taskId: string, paused: boolean, now: number): void;
  /** The last `limit` rounds, newest first, with what their clients did. */
  roundActivity(taskId: string, limit: number): RoundActivity[];

  // Evaluations and history.
  recordEvaluation(taskId: string, version: number, accuracy: number | null, loss: number | null, metrics: Partial<Record<MetricName, number>>, now: number): void;
  unevaluatedVersions(taskId: string): number[];
  history(taskId: string): HistoryPoint[];
}
