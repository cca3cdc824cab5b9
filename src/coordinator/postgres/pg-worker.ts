/**
 * The PostgreSQL store's worker thread (see sync-call.ts): one connection, queries run strictly one after
 * another, so a transaction the store begins is this connection's until it ends, and a session lock
 * (pg_advisory_lock) is held exactly as long as this connection lives. The only module that imports `pg`.
 *
 * A lost connection fails the call in flight (the request it served is answered with an error, so nothing
 * unacknowledged is taken for done) and the next call connects again.
 */
import pg from 'pg';
import { threadId } from 'node:worker_threads';
import { serveSyncCalls } from './sync-call.ts';

// Numbers as numbers: counts and sums (int8, numeric) and times in ms (int8) are all far below 2^53.
pg.types.setTypeParser(20, (v) => Number(v));
pg.types.setTypeParser(1700, (v) => Number(v));

const { url, schema } = serveSyncCalls({ query, close }) as { url: string; schema: string | undefined };

let client: pg.Client | null = null;
let broken = false;
/** Names this connection: a new one (or a new worker's) holds none of the session locks the last one held. */
const started = `${process.pid}-${threadId}-${Date.now()}`;
let connections = 0;
let generation = '';

async function connection(): Promise<pg.Client> {
  if (client && !broken) return client;
  const old = client;
  client = null;
  if (old) void old.end().catch(() => undefined);
  broken = false;
  const c = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: 10_000,
    application_name: `covey-coordinator-${process.pid}`,
    // A dead peer is noticed in seconds, both ways: this side's socket, and the server's (which then ends
    // the session and lets go of its locks, so another process can take over a round this one claimed).
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    options: '-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3 -c idle_in_transaction_session_timeout=30000 -c statement_timeout=30000',
    // Past this the call fails here too (the server's statement_timeout should have ended it first).
    query_timeout: 40_000,
  });
  // Only this connection's own errors mark it broken (a replaced one's late error is not this one's).
  c.on('error', () => {
    if (client === c) broken = true;
  });
  try {
    await c.connect();
    // Every connection, the first and those after a loss, works in the store's schema.
    if (schema !== undefined) await c.query(`SET search_path TO ${schema}`);
  } catch (e) {
    void c.end().catch(() => undefined);
    throw e;
  }
  client = c;
  generation = `${started}-${++connections}`;
  return c;
}

/** A transaction is open on the connection (BEGIN sent, no COMMIT or ROLLBACK yet). */
let inTransaction = false;
/** The connection died inside a transaction: every statement fails until the caller's ROLLBACK. */
let lostTransaction = false;

/**
 * Runs one statement; rows as objects, bytea as Uint8Array (a Buffer crosses the thread as one). Never
 * on a new connection in the middle of a transaction: the rest of it would run outside one.
 */
async function query(sql: string, params: unknown[] = []): Promise<{ rows: Record<string, unknown>[]; rowCount: number; generation: string }> {
  const verb = /^\s*(\w+)/.exec(sql)?.[1]?.toUpperCase();
  if (lostTransaction) {
    if (verb === 'ROLLBACK') {
      lostTransaction = false;
      return { rows: [], rowCount: 0, generation };
    }
    throw Object.assign(new Error('the connection to PostgreSQL was lost inside a transaction, which it rolled back'), { code: '08006' });
  }
  if (inTransaction && (!client || broken)) {
    inTransaction = false;
    lostTransaction = verb !== 'ROLLBACK';
    if (verb === 'ROLLBACK') return { rows: [], rowCount: 0, generation };
    throw Object.assign(new Error('the connection to PostgreSQL was lost inside a transaction, which it rolled back'), { code: '08006' });
  }
  const c = await connection();
  try {
    const r = await c.query({ text: sql, values: params.map((p) => (p instanceof Uint8Array && !Buffer.isBuffer(p) ? Buffer.from(p.buffer, p.byteOffset, p.byteLength) : p)) });
    if (verb === 'BEGIN') inTransaction = true;
    else if (verb === 'COMMIT' || verb === 'ROLLBACK') inTransaction = false;
    return { rows: r.rows as Record<string, unknown>[], rowCount: r.rowCount ?? 0, generation };
  } catch (e) {
    // A connection that failed mid-query is not used again (its transaction, if any, is gone with it).
    const code = (e as { code?: string }).code;
    if (!code || code.startsWith('08') || code === '57P01') {
      broken = true;
      if (inTransaction) {
        inTransaction = false;
        lostTransaction = verb !== 'ROLLBACK' && verb !== 'COMMIT';
      }
    }
    if (verb === 'COMMIT' || verb === 'ROLLBACK') inTransaction = false;
    throw e;
  }
}

async function close(): Promise<void> {
  const c = client;
  client = null;
  if (c) await c.end().catch(() => undefined);
}
