/**
 * The coordinator's store on SQLite (better-sqlite3; the only module that speaks SQL to it): tasks' model
 * versions, rounds, assignments, accepted updates and evaluation history, in one file (WAL). Every write
 * the protocol acknowledges is committed before the answer leaves, and each multi-row change is one
 * transaction. The embedded default; see store.ts for the contract.
 */
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { HistoryPoint, MetricName, RoundState } from '../core/protocol.ts';
import { fromFloat32, historyPoint, roundActivities, toFloat32, toRoundRow } from './store-rows.ts';
import { failpoint } from './failpoint.ts';
import { StoreConflict, type CloseRound, type CoordinatorStore, type NewUpdate, type RoundActivity, type RoundRow, type StoredUpdate, type TaskHead } from './store.ts';

/** The evaluations table as of schema v3 (numbers nullable); also what the v3 migration rebuilds it as. */
const EVALUATION_COLUMNS = `task_id TEXT NOT NULL, version INTEGER NOT NULL, accuracy REAL, loss REAL,
  evaluated_at INTEGER NOT NULL, metrics TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (task_id, version)`;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS model_versions (
  task_id TEXT NOT NULL, version INTEGER NOT NULL, round_id INTEGER, weights BLOB NOT NULL,
  num_clients INTEGER NOT NULL DEFAULT 0, num_examples INTEGER NOT NULL DEFAULT 0, client_loss REAL,
  created_at INTEGER NOT NULL, PRIMARY KEY (task_id, version));
CREATE TABLE IF NOT EXISTS lineages (task_id TEXT PRIMARY KEY, lineage TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS evaluations (${EVALUATION_COLUMNS});
CREATE TABLE IF NOT EXISTS rounds (
  task_id TEXT NOT NULL, round_id INTEGER NOT NULL, base_version INTEGER NOT NULL, state TEXT NOT NULL,
  min_clients INTEGER NOT NULL, target_clients INTEGER NOT NULL, opened_at INTEGER NOT NULL,
  deadline_at INTEGER NOT NULL, closed_at INTEGER, outcome TEXT, PRIMARY KEY (task_id, round_id));
CREATE TABLE IF NOT EXISTS assignments (
  task_id TEXT NOT NULL, round_id INTEGER NOT NULL, client_id TEXT NOT NULL, assigned_at INTEGER NOT NULL,
  PRIMARY KEY (task_id, round_id, client_id));
CREATE INDEX IF NOT EXISTS assignments_by_client ON assignments (task_id, client_id, round_id);
CREATE INDEX IF NOT EXISTS assignments_by_time ON assignments (task_id, assigned_at);
CREATE TABLE IF NOT EXISTS client_keys (
  client_id TEXT PRIMARY KEY, public_key TEXT NOT NULL, registered_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS updates (
  update_id TEXT PRIMARY KEY, task_id TEXT NOT NULL, round_id INTEGER NOT NULL, client_id TEXT NOT NULL,
  num_examples INTEGER NOT NULL, loss REAL NOT NULL, backend TEXT, bytes INTEGER NOT NULL,
  delta BLOB, received_at INTEGER NOT NULL, UNIQUE (task_id, round_id, client_id));
CREATE INDEX IF NOT EXISTS updates_by_client ON updates (task_id, client_id, received_at);
CREATE INDEX IF NOT EXISTS updates_by_client_round ON updates (task_id, client_id, round_id);
CREATE TABLE IF NOT EXISTS task_controls (task_id TEXT PRIMARY KEY, paused INTEGER NOT NULL, changed_at INTEGER NOT NULL);
`;

export class SqliteStore implements CoordinatorStore {
  private readonly db: Database.Database;
  /** One process owns the file (it holds the only writer): nothing to follow, no lock to take. */
  readonly shared = false;

  /** `durable: false` (simulations, whose store is thrown away) skips the fsync of every commit. */
  constructor(path: string, opts: { durable?: boolean } = {}) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // FULL: a commit survives power loss too, not only a process crash.
    this.db.pragma(opts.durable === false ? 'synchronous = OFF' : 'synchronous = FULL');
    this.db.exec(SCHEMA);
    this.migrate();
  }

  /** Cumulative schema steps after the first, numbered by SQLite's user_version. */
  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    this.db.transaction(() => {
      const column = (table: string, name: string) => (this.db.prepare(`PRAGMA table_info(${table})`).all() as { name: string; notnull: number }[]).find((c) => c.name === name);
      const hasColumn = (table: string, name: string) => column(table, name) !== undefined;
      if (version < 1 && !hasColumn('evaluations', 'metrics')) {
        // v1: every held-out metric of a version (accuracy, auc, f1) as JSON.
        this.db.exec("ALTER TABLE evaluations ADD COLUMN metrics TEXT NOT NULL DEFAULT '{}'");
      }
      if (version < 2 && !hasColumn('updates', 'body_sha256')) {
        // v2: a digest of each accepted body, so that a retry is told apart from another body under the same id.
        this.db.exec('ALTER TABLE updates ADD COLUMN body_sha256 TEXT');
      }
      if (version < 3 && column('evaluations', 'loss')?.notnull) {
        // v3: a model whose held-out loss is not a number (diverged) is recorded as null, not refused by SQLite.
        this.db.exec(`
          CREATE TABLE evaluations_v3 (${EVALUATION_COLUMNS});
          INSERT INTO evaluations_v3 (task_id, version, accuracy, loss, evaluated_at, metrics)
            SELECT task_id, version, accuracy, loss, evaluated_at, metrics FROM evaluations;
          DROP TABLE evaluations;
          ALTER TABLE evaluations_v3 RENAME TO evaluations;`);
      }
      if (version < 6 && !hasColumn('updates', 'eval_count')) {
        // v6: federated evaluation: each update's report of its base model on the client's held-out examples.
        this.db.exec(`ALTER TABLE updates ADD COLUMN eval_count INTEGER; ALTER TABLE updates ADD COLUMN eval_accuracy REAL;
          ALTER TABLE updates ADD COLUMN eval_loss REAL; ALTER TABLE updates ADD COLUMN eval_personal_accuracy REAL;`);
      }
      // v4: client_keys (created above by the schema): each client id's public key, registered at its first signed enrolment.
      if (version < 5 && !hasColumn('model_versions', 'optimizer_state')) {
        // v5: the server optimizer's state (momentum, moments) that produced each version, written with it.
        this.db.exec('ALTER TABLE model_versions ADD COLUMN optimizer_state BLOB');
      }
      if (version < 7 && !hasColumn('model_versions', 'privacy')) {
        // v7: differential privacy: the accountant's state after each version (RDP per order, ε, δ, q) as JSON.
        this.db.exec('ALTER TABLE model_versions ADD COLUMN privacy TEXT');
      }
      if (version < 8 && !hasColumn('updates', 'within_clip')) {
        // v8: adaptive clipping: each update's bit (within the round's clip norm or not), replayed after a restart.
        this.db.exec('ALTER TABLE updates ADD COLUMN within_clip INTEGER');
      }
      if (version < 9 && !hasColumn('updates', 'base_version')) {
        // v9: buffered aggregation: each update's own base version and staleness factor (the buffer's base may be newer).
        this.db.exec('ALTER TABLE updates ADD COLUMN base_version INTEGER; ALTER TABLE updates ADD COLUMN staleness REAL;');
      }
      if (version < 10 && !hasColumn('updates', 'train_ms')) {
        // v10: the operator's dashboard: each update's training time and L2 norm (null for private tasks, whose single updates are not described).
        this.db.exec('ALTER TABLE updates ADD COLUMN train_ms REAL; ALTER TABLE updates ADD COLUMN norm REAL;');
      }
      // v10 also: task_controls (created above by the schema): tasks the operator paused.
      this.db.pragma('user_version = 10');
    })();
  }

  close(): void {
    this.db.close();
  }

  /** The newest model version, and the server optimizer's state written with it (null when none). */
  latestVersion(taskId: string): { version: number; weights: Float32Array; optimizerState: Uint8Array | null; privacy: string | null } | null {
    const row = this.db
      .prepare('SELECT version, weights, optimizer_state, privacy FROM model_versions WHERE task_id = ? ORDER BY version DESC LIMIT 1')
      .get(taskId) as { version: number; weights: Buffer; optimizer_state: Buffer | null; privacy: string | null } | undefined;
    return row ? { version: row.version, weights: toFloat32(row.weights), optimizerState: row.optimizer_state ? new Uint8Array(row.optimizer_state) : null, privacy: row.privacy } : null;
  }

  /** Distinct clients that ever held a place in the task's rounds (or sent an update): the population the accountant's sampling rate is taken over. */
  countClients(taskId: string): number {
    return (this.db.prepare('SELECT COUNT(DISTINCT client_id) AS n FROM assignments WHERE task_id = ?').get(taskId) as { n: number }).n;
  }

  /** Whether the version exists, without reading its weights. */
  hasVersion(taskId: string, version: number): boolean {
    return !!this.db.prepare('SELECT 1 FROM model_versions WHERE task_id = ? AND version = ?').get(taskId, version);
  }

  modelWeights(taskId: string, version: number): Buffer | null {
    const row = this.db.prepare('SELECT weights FROM model_versions WHERE task_id = ? AND version = ?').get(taskId, version) as
      | { weights: Buffer }
      | undefined;
    return row?.weights ?? null;
  }

  modelVector(taskId: string, version: number): Float32Array | null {
    const weights = this.modelWeights(taskId, version);
    return weights ? toFloat32(weights) : null;
  }

  /** The task's lineage (see TaskSummary.lineage): made once, the first time it is asked for. */
  lineage(taskId: string): string {
    this.db.prepare('INSERT OR IGNORE INTO lineages (task_id, lineage) VALUES (?, ?)').run(taskId, randomBytes(9).toString('base64url'));
    return (this.db.prepare('SELECT lineage FROM lineages WHERE task_id = ?').get(taskId) as { lineage: string }).lineage;
  }

  /** The public key registered for a client id (a JWK's JSON), or null. */
  clientKey(clientId: string): string | null {
    const row = this.db.prepare('SELECT public_key FROM client_keys WHERE client_id = ?').get(clientId) as { public_key: string } | undefined;
    return row?.public_key ?? null;
  }

  /** Registers a client id's key; false (and nothing changes) when the id already has one. */
  registerClientKey(clientId: string, publicKey: string, now: number): boolean {
    return this.db.prepare('INSERT OR IGNORE INTO client_keys (client_id, public_key, registered_at) VALUES (?, ?, ?)').run(clientId, publicKey, now).changes === 1;
  }

  /** Writes the initial model (version 0) and the first round, unless the task has a model already. */
  initialiseTask(taskId: string, weights: Float32Array, firstRound: Omit<RoundRow, 'taskId' | 'roundId'>): void {
    this.db.transaction(() => {
      const exists = this.db.prepare('SELECT 1 FROM model_versions WHERE task_id = ?').get(taskId);
      if (exists) return;
      this.insertVersion(taskId, 0, null, weights, 0, 0, null);
      this.insertRound({ ...firstRound, taskId, roundId: 1 });
    })();
  }

  currentRound(taskId: string): RoundRow | null {
    const row = this.db.prepare('SELECT * FROM rounds WHERE task_id = ? ORDER BY round_id DESC LIMIT 1').get(taskId);
    return row ? toRoundRow(row as Record<string, unknown>) : null;
  }

  round(taskId: string, roundId: number): RoundRow | null {
    const row = this.db.prepare('SELECT * FROM rounds WHERE task_id = ? AND round_id = ?').get(taskId, roundId);
    return row ? toRoundRow(row as Record<string, unknown>) : null;
  }

  /** Moves the round's deadline (a synchronous round's clock starts again at its first client). */
  setRoundDeadline(taskId: string, roundId: number, deadlineAt: number): void {
    this.db.prepare('UPDATE rounds SET deadline_at = ? WHERE task_id = ? AND round_id = ?').run(deadlineAt, taskId, roundId);
  }

  setRoundState(taskId: string, roundId: number, from: RoundState, to: RoundState): boolean {
    return this.db.prepare('UPDATE rounds SET state = ? WHERE task_id = ? AND round_id = ? AND state = ?').run(to, taskId, roundId, from).changes === 1;
  }

  claimAggregation(taskId: string, roundId: number, from: RoundState): boolean {
    return this.setRoundState(taskId, roundId, from, 'aggregating');
  }

  /** The only process: a round left aggregating is its own to finish (by a restart). */
  takeOverAggregation(taskId: string, roundId: number): boolean {
    return this.round(taskId, roundId)?.state === 'aggregating';
  }

  releaseTask(): void {}

  head(taskId: string): TaskHead | null {
    const round = this.currentRound(taskId);
    const latest = this.db.prepare('SELECT MAX(version) AS v FROM model_versions WHERE task_id = ?').get(taskId) as { v: number | null };
    if (!round || latest.v === null) return null;
    return { round, version: latest.v, assigned: this.countAssigned(taskId, round.roundId), received: this.countUpdates(taskId, round.roundId), paused: this.isPaused(taskId) };
  }

  assign(taskId: string, roundId: number, clientId: string, now: number): void {
    this.db.prepare('INSERT OR IGNORE INTO assignments VALUES (?, ?, ?, ?)').run(taskId, roundId, clientId, now);
  }

  /** Assigns, or assigns again from `now` (a buffer's client whose earlier lease in it lapsed). */
  reassign(taskId: string, roundId: number, clientId: string, now: number): void {
    this.db.prepare('INSERT INTO assignments VALUES (?, ?, ?, ?) ON CONFLICT (task_id, round_id, client_id) DO UPDATE SET assigned_at = excluded.assigned_at').run(taskId, roundId, clientId, now);
  }

  /**
   * Buffered aggregation: the client's latest assignment in any buffer, and whether an update of it arrived
   * since (leases run across buffers, so lapses are told by time, not by round).
   */
  lastAssignment(taskId: string, clientId: string): { assignedAt: number; reported: boolean } | null {
    const row = this.db
      .prepare(
        `SELECT a.assigned_at, EXISTS (SELECT 1 FROM updates u WHERE u.task_id = a.task_id AND u.client_id = a.client_id AND u.received_at >= a.assigned_at) AS reported
         FROM assignments a WHERE a.task_id = ? AND a.client_id = ? ORDER BY a.assigned_at DESC LIMIT 1`,
      )
      .get(taskId, clientId) as { assigned_at: number; reported: number } | undefined;
    return row ? { assignedAt: row.assigned_at, reported: row.reported === 1 } : null;
  }

  /** Buffered aggregation: clients assigned since `since` with no update after it (leases to rebuild on restart), oldest first. */
  unreportedSince(taskId: string, since: number): { clientId: string; assignedAt: number }[] {
    return (
      this.db
        .prepare(
          `SELECT l.client_id, l.assigned_at FROM (SELECT client_id, MAX(assigned_at) AS assigned_at FROM assignments WHERE task_id = ? AND assigned_at > ? GROUP BY client_id) l
           WHERE NOT EXISTS (SELECT 1 FROM updates u WHERE u.task_id = ? AND u.client_id = l.client_id AND u.received_at >= l.assigned_at) ORDER BY l.assigned_at`,
        )
        .all(taskId, since, taskId) as { client_id: string; assigned_at: number }[]
    ).map((r) => ({ clientId: r.client_id, assignedAt: r.assigned_at }));
  }

  /** Distinct clients assigned (or reporting) since `since`, with when last: pace steering's population after a restart. */
  clientsSince(taskId: string, since: number): { clientId: string; at: number }[] {
    return (this.db.prepare('SELECT client_id, MAX(assigned_at) AS at FROM assignments WHERE task_id = ? AND assigned_at > ? GROUP BY client_id ORDER BY at').all(taskId, since) as { client_id: string; at: number }[]).map((r) => ({ clientId: r.client_id, at: r.at }));
  }

  isAssigned(taskId: string, roundId: number, clientId: string): boolean {
    return !!this.db.prepare('SELECT 1 FROM assignments WHERE task_id = ? AND round_id = ? AND client_id = ?').get(taskId, roundId, clientId);
  }

  /** The round's assignments whose client has not reported, oldest first (to rebuild their leases). */
  silentAssignments(taskId: string, roundId: number): { clientId: string; assignedAt: number }[] {
    return (
      this.db
        .prepare(
          `SELECT a.client_id, a.assigned_at FROM assignments a LEFT JOIN updates u ON u.task_id = a.task_id AND u.round_id = a.round_id AND u.client_id = a.client_id
           WHERE a.task_id = ? AND a.round_id = ? AND u.update_id IS NULL ORDER BY a.assigned_at`,
        )
        .all(taskId, roundId) as { client_id: string; assigned_at: number }[]
    ).map((r) => ({ clientId: r.client_id, assignedAt: r.assigned_at }));
  }

  /**
   * Whether `clientId` held a place in one of rounds [fromRound, beforeRound) and let it lapse: no update from
   * it in that round, and its lease (`leaseMs`) over before the round closed (a lease that ends as the round does did not lapse).
   */
  lapsedSince(taskId: string, clientId: string, fromRound: number, beforeRound: number, leaseMs: number, now: number): boolean {
    return !!this.db
      .prepare(
        `SELECT 1 FROM assignments a JOIN rounds r ON r.task_id = a.task_id AND r.round_id = a.round_id
         LEFT JOIN updates u ON u.task_id = a.task_id AND u.round_id = a.round_id AND u.client_id = a.client_id
         WHERE a.task_id = ? AND a.client_id = ? AND a.round_id >= ? AND a.round_id < ? AND u.update_id IS NULL
           AND a.assigned_at + ? < COALESCE(r.closed_at, ?) LIMIT 1`,
      )
      .get(taskId, clientId, fromRound, beforeRound, leaseMs, now);
  }

  countAssigned(taskId: string, roundId: number): number {
    return (this.db.prepare('SELECT COUNT(*) n FROM assignments WHERE task_id = ? AND round_id = ?').get(taskId, roundId) as { n: number }).n;
  }

  findUpdate(updateId: string): { taskId: string; roundId: number; clientId: string; bodySha256: string | null } | null {
    const row = this.db.prepare('SELECT task_id, round_id, client_id, body_sha256 FROM updates WHERE update_id = ?').get(updateId) as
      | { task_id: string; round_id: number; client_id: string; body_sha256: string | null }
      | undefined;
    return row ? { taskId: row.task_id, roundId: row.round_id, clientId: row.client_id, bodySha256: row.body_sha256 } : null;
  }

  hasClientUpdate(taskId: string, roundId: number, clientId: string): boolean {
    return !!this.db.prepare('SELECT 1 FROM updates WHERE task_id = ? AND round_id = ? AND client_id = ?').get(taskId, roundId, clientId);
  }

  /** Durably records an accepted update; returns once it is committed. */
  insertUpdate(u: NewUpdate, now: number): void {
    const round = this.round(u.taskId, u.roundId);
    if (round?.state !== 'open' && round?.state !== 'training') throw new StoreConflict('round_closed', `round ${u.roundId} no longer takes updates`);
    try {
      this.db
        .prepare(
          'INSERT INTO updates (update_id, task_id, round_id, client_id, num_examples, loss, backend, bytes, delta, received_at, body_sha256, eval_count, eval_accuracy, eval_loss, eval_personal_accuracy, within_clip, base_version, staleness, train_ms, norm) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(u.updateId, u.taskId, u.roundId, u.clientId, u.numExamples, u.loss, u.backend, u.bytes, fromFloat32(u.delta), now, u.bodySha256, u.eval?.count ?? null, u.eval?.accuracy ?? null, u.eval?.loss ?? null, u.eval?.personalAccuracy ?? null, u.withinClip === undefined || u.withinClip === null ? null : Number(u.withinClip), u.baseVersion, u.staleness ?? null, u.trainMs ?? null, u.norm ?? null);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new StoreConflict('update_id_reused', 'this update id is stored already');
      if (code === 'SQLITE_CONSTRAINT_UNIQUE') throw new StoreConflict('client_already_reported', `client already sent an update for round ${u.roundId}`);
      throw e;
    }
  }
  countUpdates(taskId: string, roundId: number): number {
    return (this.db.prepare('SELECT COUNT(*) n FROM updates WHERE task_id = ? AND round_id = ?').get(taskId, roundId) as { n: number }).n;
  }

  /** The round's updates one at a time, so that replaying them after a restart needs memory for one only. */
  *iterateUpdates(taskId: string, roundId: number): Generator<StoredUpdate> {
    const rows = this.db
      .prepare('SELECT update_id, client_id, num_examples, loss, delta, within_clip, staleness FROM updates WHERE task_id = ? AND round_id = ? AND delta IS NOT NULL ORDER BY received_at, update_id')
      .iterate(taskId, roundId) as IterableIterator<{ update_id: string; client_id: string; num_examples: number; loss: number; delta: Buffer; within_clip: number | null; staleness: number | null }>;
    for (const r of rows) {
      yield { updateId: r.update_id, clientId: r.client_id, numExamples: r.num_examples, loss: r.loss, delta: toFloat32(r.delta), withinClip: r.within_clip === null ? null : r.within_clip === 1, staleness: r.staleness };
    }
  }

  /**
   * Closes a round and opens the next in one transaction: the new model version (when the round
   * aggregated), the closed round, the next round, and the spent deltas dropped (their receipts stay, so a
   * late retry of one is still recognised).
   */
  closeRound(args: CloseRound): boolean {
    const { taskId, roundId, now, result } = args;
    return this.db.transaction(() => {
      if (this.round(taskId, roundId)?.state !== args.from) return false;
      if (result) this.insertVersion(taskId, result.version, roundId, result.weights, result.numClients, result.numExamples, result.clientLoss, result.optimizerState ?? null, result.privacy ?? null);
      failpoint('model-writing');
      this.db
        .prepare("UPDATE rounds SET state = 'closed', closed_at = ?, outcome = ? WHERE task_id = ? AND round_id = ?")
        .run(now, result ? 'aggregated' : 'failed', taskId, roundId);
      const base = (this.db.prepare('SELECT base_version FROM rounds WHERE task_id = ? AND round_id = ?').get(taskId, roundId) as { base_version: number } | undefined)?.base_version;
      if (!result && args.carryUpdates && base === args.next.baseVersion) {
        // A failed round's updates trained the model the next round trains: they go on into it, still counted once.
        this.db.prepare('UPDATE updates SET round_id = ? WHERE task_id = ? AND round_id = ?').run(roundId + 1, taskId, roundId);
      } else {
        this.db.prepare('UPDATE updates SET delta = NULL WHERE task_id = ? AND round_id = ?').run(taskId, roundId);
      }
      this.insertRound({ ...args.next, taskId, roundId: roundId + 1 });
      return true;
    })();
  }

  /** Whether the operator paused the task (kept across restarts). */
  isPaused(taskId: string): boolean {
    return (this.db.prepare('SELECT paused FROM task_controls WHERE task_id = ?').get(taskId) as { paused: number } | undefined)?.paused === 1;
  }

  setPaused(taskId: string, paused: boolean, now: number): void {
    this.db.prepare('INSERT OR REPLACE INTO task_controls (task_id, paused, changed_at) VALUES (?, ?, ?)').run(taskId, Number(paused), now);
  }

  /** The last `limit` rounds (or buffers) of a task, newest first, with what their clients did. */
  roundActivity(taskId: string, limit: number): RoundActivity[] {
    const rounds = (this.db.prepare('SELECT * FROM rounds WHERE task_id = ? ORDER BY round_id DESC LIMIT ?').all(taskId, limit) as Record<string, unknown>[]).map(toRoundRow);
    if (rounds.length === 0) return [];
    const oldest = rounds[rounds.length - 1]!.roundId;
    const assignments = new Map(
      (
        this.db
          .prepare(
            `SELECT a.round_id, COUNT(*) AS n,
                    SUM(EXISTS (SELECT 1 FROM updates u WHERE u.task_id = a.task_id AND u.client_id = a.client_id AND u.round_id >= a.round_id
                                AND (u.round_id = a.round_id OR (r.outcome = 'failed' AND u.base_version = r.base_version)))) AS answered
             FROM assignments a JOIN rounds r ON r.task_id = a.task_id AND r.round_id = a.round_id
             WHERE a.task_id = ? AND a.round_id >= ? GROUP BY a.round_id`,
          )
          .all(taskId, oldest) as { round_id: number; n: number; answered: number }[]
      ).map((r) => [r.round_id, r]),
    );
    const carried = new Map(
      (
        this.db
          .prepare(
            `SELECT u.round_id, COUNT(*) AS n FROM updates u WHERE u.task_id = ? AND u.round_id >= ?
               AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.task_id = u.task_id AND a.round_id = u.round_id AND a.client_id = u.client_id)
             GROUP BY u.round_id`,
          )
          .all(taskId, oldest) as { round_id: number; n: number }[]
      ).map((r) => [r.round_id, r.n]),
    );
    const versions = new Map((this.db.prepare('SELECT round_id, num_clients FROM model_versions WHERE task_id = ? AND round_id >= ?').all(taskId, oldest) as { round_id: number; num_clients: number }[]).map((r) => [r.round_id, r.num_clients]));
    const updates = this.db
      .prepare('SELECT round_id, backend, bytes, train_ms, norm FROM updates WHERE task_id = ? AND round_id >= ?')
      .all(taskId, oldest) as { round_id: number; backend: string | null; bytes: number; train_ms: number | null; norm: number | null }[];
    return roundActivities(rounds, updates, assignments, carried, versions);
  }

  /** Records a held-out evaluation; null where the model's output was not a number. */
  recordEvaluation(taskId: string, version: number, accuracy: number | null, loss: number | null, metrics: Partial<Record<MetricName, number>>, now: number): void {
    this.db
      .prepare('INSERT OR REPLACE INTO evaluations (task_id, version, accuracy, loss, evaluated_at, metrics) VALUES (?, ?, ?, ?, ?, ?)')
      .run(taskId, version, accuracy, loss, now, JSON.stringify(metrics));
  }

  unevaluatedVersions(taskId: string): number[] {
    const rows = this.db
      .prepare('SELECT m.version FROM model_versions m LEFT JOIN evaluations e USING (task_id, version) WHERE m.task_id = ? AND e.version IS NULL ORDER BY m.version')
      .all(taskId) as { version: number }[];
    return rows.map((r) => r.version);
  }

  history(taskId: string): HistoryPoint[] {
    const rows = this.db
      .prepare(
        `WITH federated AS (
           SELECT COALESCE(u.base_version, r.base_version) AS version, SUM(u.eval_count) AS examples, COUNT(*) AS clients,
                  SUM(u.eval_accuracy * u.eval_count) AS correct, SUM(u.eval_loss * u.eval_count) AS loss_sum,
                  SUM(u.eval_personal_accuracy * u.eval_count) AS personal_correct,
                  SUM(CASE WHEN u.eval_personal_accuracy IS NULL THEN 0 ELSE u.eval_count END) AS personal_examples
           FROM updates u JOIN rounds r ON r.task_id = u.task_id AND r.round_id = u.round_id
           WHERE u.task_id = ? AND u.eval_count IS NOT NULL GROUP BY COALESCE(u.base_version, r.base_version)),
         stale AS (
           SELECT u.round_id, AVG(r.base_version - u.base_version) AS mean_tau, MAX(r.base_version - u.base_version) AS max_tau, AVG(u.staleness) AS mean_weight
           FROM updates u JOIN rounds r ON r.task_id = u.task_id AND r.round_id = u.round_id
           WHERE u.task_id = ? AND u.staleness IS NOT NULL GROUP BY u.round_id)
         SELECT m.version, m.round_id, m.num_clients, m.num_examples, m.client_loss, m.created_at, m.privacy, e.accuracy, e.loss, e.metrics,
                f.examples AS fed_examples, f.clients AS fed_clients, f.correct AS fed_correct, f.loss_sum AS fed_loss_sum,
                f.personal_correct AS fed_personal_correct, f.personal_examples AS fed_personal_examples,
                s.mean_tau, s.max_tau, s.mean_weight
         FROM model_versions m LEFT JOIN evaluations e USING (task_id, version) LEFT JOIN federated f ON f.version = m.version
         LEFT JOIN stale s ON s.round_id = m.round_id
         WHERE m.task_id = ? ORDER BY m.version`,
      )
      .all(taskId, taskId, taskId) as (Record<string, number | null> & { metrics: string | null; privacy: string | null })[];
    return rows.map((r) => historyPoint(r));
  }

  private insertVersion(taskId: string, version: number, roundId: number | null, weights: Float32Array, numClients: number, numExamples: number, clientLoss: number | null, optimizerState: Uint8Array | null = null, privacy: string | null = null): void {
    this.db
      .prepare('INSERT INTO model_versions (task_id, version, round_id, weights, num_clients, num_examples, client_loss, created_at, optimizer_state, privacy) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(taskId, version, roundId, fromFloat32(weights), numClients, numExamples, clientLoss, Date.now(), optimizerState, privacy);
  }

  private insertRound(r: RoundRow): void {
    this.db
      .prepare('INSERT INTO rounds VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(r.taskId, r.roundId, r.baseVersion, r.state, r.minClients, r.targetClients, r.openedAt, r.deadlineAt, r.closedAt, r.outcome);
  }
}
