/**
 * The coordinator's store on PostgreSQL, for several coordinator processes sharing one federation
 * (COVEY_DATABASE_URL=postgres://…). Same tables and behaviour as the embedded SQLite store
 * (sqlite-store.ts), same synchronous contract (store.ts): the SQL runs on one connection in a worker
 * thread (pg-worker.ts) that this thread waits for (sync-call.ts), so a round trip costs about a third of
 * a millisecond here, and each method's transaction is this process's alone.
 *
 * Against the other processes:
 * - an update is inserted under a share lock on its round's row, and only while the round takes updates;
 *   a round's state changes under that row's exclusive lock, from the state its caller saw. So once a
 *   round is 'aggregating' (or closed) nothing more enters it, and everything that entered is committed
 *   and visible to the process that aggregates;
 * - the process that moves a round to 'aggregating' holds the task's session lock
 *   (pg_advisory_lock(CLOSE_LOCK, hash of the schema and task)) until it has closed the round; if it dies, its
 *   connection and the lock go with it, and the next process to look takes the round over.
 * - every write the protocol acknowledges is committed (synchronous_commit on) before the method returns.
 */
import { randomBytes } from 'node:crypto';
import type { HistoryPoint, MetricName, RoundState } from '../../core/protocol.ts';
import { failpoint } from '../failpoint.ts';
import { StoreConflict, type CloseRound, type CoordinatorStore, type NewUpdate, type RoundActivity, type RoundRow, type StoredUpdate, type TaskHead } from '../store.ts';
import { SyncWorker, WorkerCallError } from './sync-call.ts';
import { fromFloat32, historyPoint, roundActivities, toFloat32, toRoundRow, type ActivityUpdateRow } from '../store-rows.ts';

/**
 * The first keys of the advisory locks (pg_advisory_lock's two-key form): a task's closing lock, and the
 * lock under which processes starting together make the schema and a task's version 0. The second key is
 * the task's name within its schema, so federations in other schemas of one database do not contend.
 */
const CLOSE_LOCK = 0x4356;
const SETUP_LOCK = 0x4357;
const TASK_KEY = "hashtext(current_schema() || '/' || $2)";
/** Updates read per round trip when a round is replayed: at most PAGE, and about PAGE_BYTES of deltas. */
const PAGE = 64;
const PAGE_BYTES = 8 * 2 ** 20;
const SCHEMA_VERSION = 10;
/** Model versions whose weights are kept in memory (see modelWeights). */
const WEIGHTS_CACHED = 8;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS model_versions (
  task_id TEXT NOT NULL, version INTEGER NOT NULL, round_id INTEGER, weights BYTEA NOT NULL,
  num_clients INTEGER NOT NULL DEFAULT 0, num_examples BIGINT NOT NULL DEFAULT 0, client_loss DOUBLE PRECISION,
  created_at BIGINT NOT NULL, optimizer_state BYTEA, privacy TEXT, PRIMARY KEY (task_id, version));
CREATE TABLE IF NOT EXISTS lineages (task_id TEXT PRIMARY KEY, lineage TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS evaluations (
  task_id TEXT NOT NULL, version INTEGER NOT NULL, accuracy DOUBLE PRECISION, loss DOUBLE PRECISION,
  evaluated_at BIGINT NOT NULL, metrics TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (task_id, version));
CREATE TABLE IF NOT EXISTS rounds (
  task_id TEXT NOT NULL, round_id INTEGER NOT NULL, base_version INTEGER NOT NULL, state TEXT NOT NULL,
  min_clients INTEGER NOT NULL, target_clients INTEGER NOT NULL, opened_at BIGINT NOT NULL,
  deadline_at BIGINT NOT NULL, closed_at BIGINT, outcome TEXT, PRIMARY KEY (task_id, round_id));
CREATE TABLE IF NOT EXISTS assignments (
  task_id TEXT NOT NULL, round_id INTEGER NOT NULL, client_id TEXT NOT NULL, assigned_at BIGINT NOT NULL,
  PRIMARY KEY (task_id, round_id, client_id));
CREATE INDEX IF NOT EXISTS assignments_by_client ON assignments (task_id, client_id, round_id);
CREATE INDEX IF NOT EXISTS assignments_by_time ON assignments (task_id, assigned_at);
CREATE TABLE IF NOT EXISTS client_keys (client_id TEXT PRIMARY KEY, public_key TEXT NOT NULL, registered_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS updates (
  update_id TEXT PRIMARY KEY, task_id TEXT NOT NULL, round_id INTEGER NOT NULL, client_id TEXT NOT NULL,
  num_examples DOUBLE PRECISION NOT NULL, loss DOUBLE PRECISION NOT NULL, backend TEXT, bytes INTEGER NOT NULL,
  delta BYTEA, received_at BIGINT NOT NULL, body_sha256 TEXT, eval_count INTEGER, eval_accuracy DOUBLE PRECISION,
  eval_loss DOUBLE PRECISION, eval_personal_accuracy DOUBLE PRECISION, within_clip INTEGER, base_version INTEGER,
  staleness DOUBLE PRECISION, train_ms DOUBLE PRECISION, norm DOUBLE PRECISION, UNIQUE (task_id, round_id, client_id));
CREATE INDEX IF NOT EXISTS updates_by_client ON updates (task_id, client_id, received_at);
CREATE INDEX IF NOT EXISTS updates_by_client_round ON updates (task_id, client_id, round_id);
CREATE INDEX IF NOT EXISTS updates_by_round ON updates (task_id, round_id, received_at, update_id);
CREATE TABLE IF NOT EXISTS task_controls (task_id TEXT PRIMARY KEY, paused BOOLEAN NOT NULL, changed_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

type Row = Record<string, unknown>;

export interface PgStoreOptions {
  /** A schema of its own (created if missing): several federations, or tests, in one database. */
  schema?: string;
}

export class PgStore implements CoordinatorStore {
  readonly shared = true;
  private readonly worker: SyncWorker;
  /** Tasks whose lock this process holds (the lock is the connection's; counted so it is let go once). */
  private readonly locked = new Set<string>();

  constructor(url: string, opts: PgStoreOptions = {}) {
    if (opts.schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(opts.schema)) throw new Error(`schema name ${opts.schema} must be lowercase letters, digits and _`);
    this.worker = new SyncWorker(new URL('./pg-worker.ts', import.meta.url), { url, schema: opts.schema });
    // Several processes may start at once: the schema is made by one of them at a time.
    this.transaction(() => {
      this.run('SELECT pg_advisory_xact_lock($1, 0)', [SETUP_LOCK]);
      if (opts.schema !== undefined) this.run(`CREATE SCHEMA IF NOT EXISTS "${opts.schema}"`);
      for (const statement of SCHEMA.split(';').map((s) => s.trim()).filter(Boolean)) this.run(statement);
      const version = this.one('SELECT MAX(version) AS v FROM schema_version')?.v as number | null;
      if (version === null) this.run('INSERT INTO schema_version VALUES ($1)', [SCHEMA_VERSION]);
      else if (version > SCHEMA_VERSION) throw new Error(`the database's schema is version ${version}, newer than this coordinator's ${SCHEMA_VERSION}: upgrade the coordinator`);
    });
  }

  close(): void {
    this.worker.close('close');
  }

  /**
   * A secret every process of the federation must share (the client tokens' signing key, the operator's
   * token): the one stored, or `make()`'s, stored by the first process to ask.
   */
  sharedSecret(name: string, make: () => string): string {
    this.run('INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING', [name, make()]);
    return this.one('SELECT value FROM secrets WHERE name = $1', [name])!.value as string;
  }

  private run(sql: string, params: unknown[] = []): { rows: Row[]; rowCount: number } {
    const r = this.worker.call<{ rows: Row[]; rowCount: number; generation: string }>('query', sql, params);
    // A new connection (the last one was lost) holds none of the locks the last one held.
    if (r.generation !== this.generation) {
      this.generation = r.generation;
      this.locked.clear();
    }
    return r;
  }

  private generation = '';

  private all(sql: string, params: unknown[] = []): Row[] {
    return this.run(sql, params).rows;
  }

  private one(sql: string, params: unknown[] = []): Row | undefined {
    return this.run(sql, params).rows[0];
  }

  /** BEGIN … COMMIT around `fn`, or ROLLBACK when it throws. */
  private transaction<T>(fn: () => T): T {
    this.run('BEGIN');
    try {
      const out = fn();
      this.run('COMMIT');
      return out;
    } catch (e) {
      try {
        this.run('ROLLBACK');
      } catch {
        // The connection is gone: so is the transaction.
      }
      throw e;
    }
  }

  latestVersion(taskId: string): { version: number; weights: Float32Array; optimizerState: Uint8Array | null; privacy: string | null } | null {
    const row = this.one('SELECT version, weights, optimizer_state, privacy FROM model_versions WHERE task_id = $1 ORDER BY version DESC LIMIT 1', [taskId]);
    return row ? { version: row.version as number, weights: toFloat32(row.weights as Uint8Array), optimizerState: (row.optimizer_state as Uint8Array | null) ?? null, privacy: (row.privacy as string | null) ?? null } : null;
  }

  countClients(taskId: string): number {
    return this.one('SELECT COUNT(DISTINCT client_id) AS n FROM assignments WHERE task_id = $1', [taskId])!.n as number;
  }

  hasVersion(taskId: string, version: number): boolean {
    if (this.weightsCache.has(`${taskId}\0${version}`)) return true;
    return this.one('SELECT 1 FROM model_versions WHERE task_id = $1 AND version = $2', [taskId, version]) !== undefined;
  }

  /**
   * A version's weights never change once written: the last few read are kept, so the clients of a round
   * downloading its model cost no round trip each (the embedded store reads its file at no such cost).
   */
  modelWeights(taskId: string, version: number): Buffer | null {
    const key = `${taskId}\0${version}`;
    const cached = this.weightsCache.get(key);
    if (cached) return cached;
    const w = this.one('SELECT weights FROM model_versions WHERE task_id = $1 AND version = $2', [taskId, version])?.weights as Uint8Array | undefined;
    if (!w) return null;
    const weights = Buffer.from(w.buffer, w.byteOffset, w.byteLength);
    this.weightsCache.set(key, weights);
    if (this.weightsCache.size > WEIGHTS_CACHED) this.weightsCache.delete(this.weightsCache.keys().next().value!);
    return weights;
  }

  private readonly weightsCache = new Map<string, Buffer>();

  modelVector(taskId: string, version: number): Float32Array | null {
    const w = this.modelWeights(taskId, version);
    return w ? toFloat32(w) : null;
  }

  lineage(taskId: string): string {
    this.run('INSERT INTO lineages (task_id, lineage) VALUES ($1, $2) ON CONFLICT DO NOTHING', [taskId, randomBytes(9).toString('base64url')]);
    return this.one('SELECT lineage FROM lineages WHERE task_id = $1', [taskId])!.lineage as string;
  }

  clientKey(clientId: string): string | null {
    return (this.one('SELECT public_key FROM client_keys WHERE client_id = $1', [clientId])?.public_key as string | undefined) ?? null;
  }

  registerClientKey(clientId: string, publicKey: string, now: number): boolean {
    return this.run('INSERT INTO client_keys (client_id, public_key, registered_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [clientId, publicKey, now]).rowCount === 1;
  }

  initialiseTask(taskId: string, weights: Float32Array, firstRound: Omit<RoundRow, 'taskId' | 'roundId'>): void {
    this.transaction(() => {
      // Processes starting together: one writes version 0, the others find it.
      this.run(`SELECT pg_advisory_xact_lock($1, ${TASK_KEY})`, [SETUP_LOCK, taskId]);
      if (this.one('SELECT 1 FROM model_versions WHERE task_id = $1', [taskId])) return;
      this.insertVersion(taskId, 0, null, weights, 0, 0, null);
      this.insertRound({ ...firstRound, taskId, roundId: 1 });
    });
  }

  currentRound(taskId: string): RoundRow | null {
    const row = this.one('SELECT * FROM rounds WHERE task_id = $1 ORDER BY round_id DESC LIMIT 1', [taskId]);
    return row ? toRoundRow(row) : null;
  }

  round(taskId: string, roundId: number): RoundRow | null {
    const row = this.one('SELECT * FROM rounds WHERE task_id = $1 AND round_id = $2', [taskId, roundId]);
    return row ? toRoundRow(row) : null;
  }

  head(taskId: string): TaskHead | null {
    const row = this.one(
      `SELECT r.*, (SELECT MAX(version) FROM model_versions m WHERE m.task_id = r.task_id) AS latest,
              (SELECT COUNT(*) FROM assignments a WHERE a.task_id = r.task_id AND a.round_id = r.round_id) AS n_assigned,
              (SELECT COUNT(*) FROM updates u WHERE u.task_id = r.task_id AND u.round_id = r.round_id) AS n_received,
              COALESCE((SELECT paused FROM task_controls c WHERE c.task_id = r.task_id), false) AS is_paused
       FROM rounds r WHERE r.task_id = $1 ORDER BY r.round_id DESC LIMIT 1`,
      [taskId],
    );
    if (!row || row.latest === null) return null;
    return { round: toRoundRow(row), version: row.latest as number, assigned: row.n_assigned as number, received: row.n_received as number, paused: row.is_paused as boolean };
  }

  setRoundDeadline(taskId: string, roundId: number, deadlineAt: number): void {
    this.run('UPDATE rounds SET deadline_at = $1 WHERE task_id = $2 AND round_id = $3', [deadlineAt, taskId, roundId]);
  }

  setRoundState(taskId: string, roundId: number, from: RoundState, to: RoundState): boolean {
    return this.run('UPDATE rounds SET state = $1 WHERE task_id = $2 AND round_id = $3 AND state = $4', [to, taskId, roundId, from]).rowCount === 1;
  }

  claimAggregation(taskId: string, roundId: number, from: RoundState): boolean {
    // The lock first: a process still closing the round before (or taking this one over) holds it.
    return this.underLock(taskId, () => this.setRoundState(taskId, roundId, from, 'aggregating'));
  }

  takeOverAggregation(taskId: string, roundId: number): boolean {
    return this.underLock(taskId, () => this.round(taskId, roundId)?.state === 'aggregating');
  }

  /** Takes the task's lock and keeps it if `claim` says so; lets it go otherwise, or when `claim` throws. */
  private underLock(taskId: string, claim: () => boolean): boolean {
    if (!this.tryLock(taskId)) return false;
    let keep = false;
    try {
      keep = claim();
      return keep;
    } finally {
      if (!keep) this.releaseTask(taskId);
    }
  }

  releaseTask(taskId: string): void {
    if (!this.locked.delete(taskId)) return;
    try {
      this.run(`SELECT pg_advisory_unlock($1, ${TASK_KEY})`, [CLOSE_LOCK, taskId]);
    } catch {
      // The connection is gone, and its lock with it.
    }
  }

  private tryLock(taskId: string): boolean {
    // Session locks stack: this process never takes its own twice.
    if (this.locked.has(taskId)) return true;
    const got = this.one(`SELECT pg_try_advisory_lock($1, ${TASK_KEY}) AS got`, [CLOSE_LOCK, taskId])!.got as boolean;
    if (got) this.locked.add(taskId);
    return got;
  }

  assign(taskId: string, roundId: number, clientId: string, now: number): void {
    this.run('INSERT INTO assignments VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [taskId, roundId, clientId, now]);
  }

  reassign(taskId: string, roundId: number, clientId: string, now: number): void {
    this.run('INSERT INTO assignments VALUES ($1, $2, $3, $4) ON CONFLICT (task_id, round_id, client_id) DO UPDATE SET assigned_at = excluded.assigned_at', [taskId, roundId, clientId, now]);
  }

  lastAssignment(taskId: string, clientId: string): { assignedAt: number; reported: boolean } | null {
    const row = this.one(
      `SELECT a.assigned_at, EXISTS (SELECT 1 FROM updates u WHERE u.task_id = a.task_id AND u.client_id = a.client_id AND u.received_at >= a.assigned_at) AS reported
       FROM assignments a WHERE a.task_id = $1 AND a.client_id = $2 ORDER BY a.assigned_at DESC LIMIT 1`,
      [taskId, clientId],
    );
    return row ? { assignedAt: row.assigned_at as number, reported: row.reported as boolean } : null;
  }

  unreportedSince(taskId: string, since: number): { clientId: string; assignedAt: number }[] {
    return this.all(
      `SELECT l.client_id, l.assigned_at FROM (SELECT client_id, MAX(assigned_at) AS assigned_at FROM assignments WHERE task_id = $1 AND assigned_at > $2 GROUP BY client_id) l
       WHERE NOT EXISTS (SELECT 1 FROM updates u WHERE u.task_id = $1 AND u.client_id = l.client_id AND u.received_at >= l.assigned_at) ORDER BY l.assigned_at, l.client_id`,
      [taskId, since],
    ).map((r) => ({ clientId: r.client_id as string, assignedAt: r.assigned_at as number }));
  }

  clientsSince(taskId: string, since: number): { clientId: string; at: number }[] {
    return this.all('SELECT client_id, MAX(assigned_at) AS at FROM assignments WHERE task_id = $1 AND assigned_at > $2 GROUP BY client_id ORDER BY at, client_id', [taskId, since]).map((r) => ({ clientId: r.client_id as string, at: r.at as number }));
  }

  isAssigned(taskId: string, roundId: number, clientId: string): boolean {
    return this.one('SELECT 1 FROM assignments WHERE task_id = $1 AND round_id = $2 AND client_id = $3', [taskId, roundId, clientId]) !== undefined;
  }

  silentAssignments(taskId: string, roundId: number): { clientId: string; assignedAt: number }[] {
    return this.all(
      `SELECT a.client_id, a.assigned_at FROM assignments a LEFT JOIN updates u ON u.task_id = a.task_id AND u.round_id = a.round_id AND u.client_id = a.client_id
       WHERE a.task_id = $1 AND a.round_id = $2 AND u.update_id IS NULL ORDER BY a.assigned_at, a.client_id`,
      [taskId, roundId],
    ).map((r) => ({ clientId: r.client_id as string, assignedAt: r.assigned_at as number }));
  }

  lapsedSince(taskId: string, clientId: string, fromRound: number, beforeRound: number, leaseMs: number, now: number): boolean {
    return (
      this.one(
        `SELECT 1 FROM assignments a JOIN rounds r ON r.task_id = a.task_id AND r.round_id = a.round_id
         LEFT JOIN updates u ON u.task_id = a.task_id AND u.round_id = a.round_id AND u.client_id = a.client_id
         WHERE a.task_id = $1 AND a.client_id = $2 AND a.round_id >= $3 AND a.round_id < $4 AND u.update_id IS NULL
           AND a.assigned_at + $5 < COALESCE(r.closed_at, $6) LIMIT 1`,
        [taskId, clientId, fromRound, beforeRound, leaseMs, now],
      ) !== undefined
    );
  }

  countAssigned(taskId: string, roundId: number): number {
    return this.one('SELECT COUNT(*) AS n FROM assignments WHERE task_id = $1 AND round_id = $2', [taskId, roundId])!.n as number;
  }

  findUpdate(updateId: string): { taskId: string; roundId: number; clientId: string; bodySha256: string | null } | null {
    const row = this.one('SELECT task_id, round_id, client_id, body_sha256 FROM updates WHERE update_id = $1', [updateId]);
    return row ? { taskId: row.task_id as string, roundId: row.round_id as number, clientId: row.client_id as string, bodySha256: (row.body_sha256 as string | null) ?? null } : null;
  }

  hasClientUpdate(taskId: string, roundId: number, clientId: string): boolean {
    return this.one('SELECT 1 FROM updates WHERE task_id = $1 AND round_id = $2 AND client_id = $3', [taskId, roundId, clientId]) !== undefined;
  }

  insertUpdate(u: NewUpdate, now: number): void {
    try {
      // One statement, so one round trip and its own transaction: the round's row is share-locked and must
      // still take updates (a process changing its state waits for this insert to commit, or this one sees the change).
      const inserted = this.run(
        `WITH round AS (SELECT 1 FROM rounds WHERE task_id = $2 AND round_id = $3 AND state IN ('open', 'training') FOR SHARE)
         INSERT INTO updates (update_id, task_id, round_id, client_id, num_examples, loss, backend, bytes, delta, received_at, body_sha256, eval_count, eval_accuracy, eval_loss,
           eval_personal_accuracy, within_clip, base_version, staleness, train_ms, norm)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20 FROM round`,
        [u.updateId, u.taskId, u.roundId, u.clientId, u.numExamples, u.loss, u.backend, u.bytes, fromFloat32(u.delta), now, u.bodySha256, u.eval?.count ?? null, u.eval?.accuracy ?? null, u.eval?.loss ?? null, u.eval?.personalAccuracy ?? null, u.withinClip === undefined || u.withinClip === null ? null : Number(u.withinClip), u.baseVersion, u.staleness ?? null, u.trainMs ?? null, u.norm ?? null],
      );
      if (inserted.rowCount === 0) throw new StoreConflict('round_closed', `round ${u.roundId} no longer takes updates`);
    } catch (e) {
      // Another process stored the same update (or another of this client's) first.
      if (e instanceof WorkerCallError && e.code === '23505') {
        throw this.findUpdate(u.updateId) ? new StoreConflict('update_id_reused', 'this update id is stored already') : new StoreConflict('client_already_reported', `client already sent an update for round ${u.roundId}`);
      }
      throw e;
    }
  }

  countUpdates(taskId: string, roundId: number): number {
    return this.one('SELECT COUNT(*) AS n FROM updates WHERE task_id = $1 AND round_id = $2', [taskId, roundId])!.n as number;
  }

  /**
   * The round's updates, a page per round trip of about PAGE_BYTES of deltas (one row at first, then as
   * many as fit), in SQLite's order: received, then id by bytes (COLLATE "C", whatever the database's
   * locale), so both stores sum in the same order.
   */
  *iterateUpdates(taskId: string, roundId: number): Generator<StoredUpdate> {
    let after: [number, string] = [-1, ''];
    let limit = 1;
    for (;;) {
      const rows = this.all(
        `SELECT update_id, client_id, num_examples, loss, delta, within_clip, staleness, received_at FROM updates
         WHERE task_id = $1 AND round_id = $2 AND delta IS NOT NULL AND (received_at, update_id COLLATE "C") > ($3, $4)
         ORDER BY received_at, update_id COLLATE "C" LIMIT ${limit}`,
        [taskId, roundId, after[0], after[1]],
      );
      const deltaBytes = rows.length > 0 ? (rows[0]!.delta as Uint8Array).byteLength : 0;
      for (const r of rows) {
        yield { updateId: r.update_id as string, clientId: r.client_id as string, numExamples: r.num_examples as number, loss: r.loss as number, delta: toFloat32(r.delta as Uint8Array), withinClip: r.within_clip === null ? null : r.within_clip === 1, staleness: (r.staleness as number | null) ?? null };
      }
      if (rows.length < limit) return;
      const last = rows[rows.length - 1]!;
      after = [last.received_at as number, last.update_id as string];
      limit = Math.max(1, Math.min(PAGE, Math.floor(PAGE_BYTES / Math.max(1, deltaBytes))));
    }
  }

  closeRound(args: CloseRound): boolean {
    const { taskId, roundId, now, result } = args;
    try {
      return this.transaction(() => {
        // The round's row first (exclusively): from here no update enters it, and a second closer finds it closed.
        const closedRound = this.one("UPDATE rounds SET state = 'closed', closed_at = $1, outcome = $2 WHERE task_id = $3 AND round_id = $4 AND state = $5 RETURNING base_version", [now, result ? 'aggregated' : 'failed', taskId, roundId, args.from]);
        if (!closedRound) return false;
        if (result) this.insertVersion(taskId, result.version, roundId, result.weights, result.numClients, result.numExamples, result.clientLoss, result.optimizerState ?? null, result.privacy ?? null);
        failpoint('model-writing');
        if (!result && args.carryUpdates && closedRound.base_version === args.next.baseVersion) {
          this.run('UPDATE updates SET round_id = $1 WHERE task_id = $2 AND round_id = $3', [roundId + 1, taskId, roundId]);
        } else {
          this.run('UPDATE updates SET delta = NULL WHERE task_id = $1 AND round_id = $2', [taskId, roundId]);
        }
        this.insertRound({ ...args.next, taskId, roundId: roundId + 1 });
        return true;
      });
    } finally {
      this.releaseTask(taskId);
    }
  }

  isPaused(taskId: string): boolean {
    return this.one('SELECT paused FROM task_controls WHERE task_id = $1', [taskId])?.paused === true;
  }

  setPaused(taskId: string, paused: boolean, now: number): void {
    this.run('INSERT INTO task_controls (task_id, paused, changed_at) VALUES ($1, $2, $3) ON CONFLICT (task_id) DO UPDATE SET paused = excluded.paused, changed_at = excluded.changed_at', [taskId, paused, now]);
  }

  roundActivity(taskId: string, limit: number): RoundActivity[] {
    const rounds = this.all('SELECT * FROM rounds WHERE task_id = $1 ORDER BY round_id DESC LIMIT $2', [taskId, limit]).map(toRoundRow);
    if (rounds.length === 0) return [];
    const oldest = rounds[rounds.length - 1]!.roundId;
    const assignments = new Map(
      this.all(
        `SELECT a.round_id, COUNT(*) AS n,
                SUM(CASE WHEN EXISTS (SELECT 1 FROM updates u WHERE u.task_id = a.task_id AND u.client_id = a.client_id AND u.round_id >= a.round_id
                            AND (u.round_id = a.round_id OR (r.outcome = 'failed' AND u.base_version = r.base_version))) THEN 1 ELSE 0 END) AS answered
         FROM assignments a JOIN rounds r ON r.task_id = a.task_id AND r.round_id = a.round_id
         WHERE a.task_id = $1 AND a.round_id >= $2 GROUP BY a.round_id`,
        [taskId, oldest],
      ).map((r) => [r.round_id as number, { n: r.n as number, answered: r.answered as number }]),
    );
    const carried = new Map(
      this.all(
        `SELECT u.round_id, COUNT(*) AS n FROM updates u WHERE u.task_id = $1 AND u.round_id >= $2
           AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.task_id = u.task_id AND a.round_id = u.round_id AND a.client_id = u.client_id)
         GROUP BY u.round_id`,
        [taskId, oldest],
      ).map((r) => [r.round_id as number, r.n as number]),
    );
    const versions = new Map(this.all('SELECT round_id, num_clients FROM model_versions WHERE task_id = $1 AND round_id >= $2', [taskId, oldest]).map((r) => [r.round_id as number, r.num_clients as number]));
    const updates = this.all('SELECT round_id, backend, bytes, train_ms, norm FROM updates WHERE task_id = $1 AND round_id >= $2', [taskId, oldest]) as unknown as ActivityUpdateRow[];
    return roundActivities(rounds, updates, assignments, carried, versions);
  }

  recordEvaluation(taskId: string, version: number, accuracy: number | null, loss: number | null, metrics: Partial<Record<MetricName, number>>, now: number): void {
    this.run(
      `INSERT INTO evaluations (task_id, version, accuracy, loss, evaluated_at, metrics) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (task_id, version) DO UPDATE SET accuracy = excluded.accuracy, loss = excluded.loss, evaluated_at = excluded.evaluated_at, metrics = excluded.metrics`,
      [taskId, version, accuracy, loss, now, JSON.stringify(metrics)],
    );
  }

  unevaluatedVersions(taskId: string): number[] {
    return this.all('SELECT m.version FROM model_versions m LEFT JOIN evaluations e USING (task_id, version) WHERE m.task_id = $1 AND e.version IS NULL ORDER BY m.version', [taskId]).map((r) => r.version as number);
  }

  history(taskId: string): HistoryPoint[] {
    const rows = this.all(
      `WITH federated AS (
         SELECT COALESCE(u.base_version, r.base_version) AS version, SUM(u.eval_count) AS examples, COUNT(*) AS clients,
                SUM(u.eval_accuracy * u.eval_count) AS correct, SUM(u.eval_loss * u.eval_count) AS loss_sum,
                SUM(u.eval_personal_accuracy * u.eval_count) AS personal_correct,
                SUM(CASE WHEN u.eval_personal_accuracy IS NULL THEN 0 ELSE u.eval_count END) AS personal_examples
         FROM updates u JOIN rounds r ON r.task_id = u.task_id AND r.round_id = u.round_id
         WHERE u.task_id = $1 AND u.eval_count IS NOT NULL GROUP BY COALESCE(u.base_version, r.base_version)),
       stale AS (
         SELECT u.round_id, AVG(r.base_version - u.base_version) AS mean_tau, MAX(r.base_version - u.base_version) AS max_tau, AVG(u.staleness) AS mean_weight
         FROM updates u JOIN rounds r ON r.task_id = u.task_id AND r.round_id = u.round_id
         WHERE u.task_id = $1 AND u.staleness IS NOT NULL GROUP BY u.round_id)
       SELECT m.version, m.round_id, m.num_clients, m.num_examples, m.client_loss, m.created_at, m.privacy, e.accuracy, e.loss, e.metrics,
              f.examples AS fed_examples, f.clients AS fed_clients, f.correct AS fed_correct, f.loss_sum AS fed_loss_sum,
              f.personal_correct AS fed_personal_correct, f.personal_examples AS fed_personal_examples,
              s.mean_tau, s.max_tau, s.mean_weight
       FROM model_versions m LEFT JOIN evaluations e USING (task_id, version) LEFT JOIN federated f ON f.version = m.version
       LEFT JOIN stale s ON s.round_id = m.round_id
       WHERE m.task_id = $1 ORDER BY m.version`,
      [taskId],
    ) as (Record<string, number | null> & { metrics: string | null; privacy: string | null })[];
    return rows.map((r) => historyPoint(r));
  }

  private insertVersion(taskId: string, version: number, roundId: number | null, weights: Float32Array, numClients: number, numExamples: number, clientLoss: number | null, optimizerState: Uint8Array | null = null, privacy: string | null = null): void {
    this.run('INSERT INTO model_versions (task_id, version, round_id, weights, num_clients, num_examples, client_loss, created_at, optimizer_state, privacy) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)', [taskId, version, roundId, fromFloat32(weights), numClients, numExamples, clientLoss, Date.now(), optimizerState, privacy]);
  }

  private insertRound(r: RoundRow): void {
    this.run('INSERT INTO rounds VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)', [r.taskId, r.roundId, r.baseVersion, r.state, r.minClients, r.targetClients, r.openedAt, r.deadlineAt, r.closedAt, r.outcome]);
  }
}
