/**
 * `npm start`: the coordinator with the tasks in tasks/*.json (the demo federations "digits" and "fraud")
 * and those registered with `npm run covey -- task add`, its state in ./data/covey.sqlite, serving the
 * built app, the SDK and the API.
 *
 * Environment: PORT (8080), HOST (127.0.0.1), COVEY_DATA_DIR (./data), COVEY_APP_DIR (./dist), COVEY_TASKS_DIR
 * (./tasks), LOG_LEVEL
 * (info), and the round
 * policy of every task: COVEY_MIN_CLIENTS, COVEY_TARGET_CLIENTS, COVEY_ROUND_DEADLINE_S; COVEY_ALLOWED_ORIGINS
 * (comma-separated) adds origins allowed to every task; COVEY_RATE_LIMIT_IP, COVEY_RATE_LIMIT_CLIENT and
 * COVEY_MAX_INFLIGHT_UPLOADS set the rate limits and back-pressure (config.ts); COVEY_TOKEN_SECRET signs
 * client tokens (else a random secret kept in <data dir>/token-secret); COVEY_TRUST_PROXY trusts a reverse
 * proxy's X-Forwarded-* headers; COVEY_REQUIRE_CLIENT_KEYS refuses enrolments without a signed challenge;
 * COVEY_PUBLIC_ORIGINS names the origins people reach it at (other Host names are refused);
 * COVEY_OPERATOR_TOKEN is the operator's token for /dashboard, /v1/operator/… and /metrics (else one is
 * made and kept in <data dir>/operator-token); COVEY_METRICS_PORT serves /metrics on a port of its own
 * (on COVEY_METRICS_HOST, default 127.0.0.1) without the token, instead of on the main port with it.
 *
 * COVEY_DATABASE_URL=postgres://… keeps the state in PostgreSQL instead (COVEY_DATABASE_SCHEMA: a schema of
 * its own), so that several coordinator processes serve one federation behind a load balancer. The
 * client tokens' secret and the operator's token are then kept in the database (unless given in the
 * environment), so every process shares them.
 */
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { DEFAULT_LIMITS } from './admission.ts';
import { allowedOriginsFromEnv, flagFromEnv, limitsFromEnv, publicOriginsFromEnv, roundPolicyFromEnv, trustProxyFromEnv } from './config.ts';
import { hostPolicy } from './host-check.ts';
import { createCoordinator } from './coordinator.ts';
import { loadTokenSecret } from './tokens.ts';
import { loadTasks } from './task-registry.ts';
import { loadOperatorToken } from './operator-token.ts';
import { metricsPortFromEnv } from './config.ts';
import { serveMetrics } from './metrics-server.ts';
import type { TaskDefinition } from './task.ts';
import { PgStore } from './postgres/pg-store.ts';
import { SqliteStore } from './sqlite-store.ts';
import { MIN_OPERATOR_TOKEN_LENGTH } from './operator-token.ts';

const root = resolve(import.meta.dirname, '..', '..');
const port = Number(process.env.PORT ?? 8080);
const host = process.env.HOST ?? '127.0.0.1';
const dataDir = resolve(process.env.COVEY_DATA_DIR ?? join(root, 'data'));
const datasetsDir = join(root, '.generated', 'datasets');
const appDir = resolve(process.env.COVEY_APP_DIR ?? join(root, 'dist'));

const tasksDir = resolve(process.env.COVEY_TASKS_DIR ?? join(root, 'tasks'));

/** What the environment adds to every task, at start and when the operator adds one. */
const prepare = (t: TaskDefinition): TaskDefinition => ({
  ...t,
  rounds: roundPolicyFromEnv(t.rounds, process.env, t),
  allowedOrigins: [...t.allowedOrigins, ...allowedOriginsFromEnv()],
});
const tasks = loadTasks([tasksDir, join(dataDir, 'tasks')]).map(prepare);
const databaseUrl = process.env.COVEY_DATABASE_URL;
const store = databaseUrl ? new PgStore(databaseUrl, { schema: process.env.COVEY_DATABASE_SCHEMA }) : new SqliteStore(join(dataDir, 'covey.sqlite'));
// On PostgreSQL the secrets every process must share live in the database, unless the environment gives them.
const shared = store instanceof PgStore ? store : null;
const operatorToken =
  shared && !process.env.COVEY_OPERATOR_TOKEN ? shared.sharedSecret('operator-token', () => randomBytes(24).toString('base64url')) : loadOperatorToken(join(dataDir, 'operator-token'));
if (operatorToken.length < MIN_OPERATOR_TOKEN_LENGTH) throw new Error(`the operator token must be at least ${MIN_OPERATOR_TOKEN_LENGTH} characters`);
const tokenSecret =
  shared && !process.env.COVEY_TOKEN_SECRET ? Buffer.from(shared.sharedSecret('token-secret', () => randomBytes(32).toString('base64')), 'base64') : loadTokenSecret(join(dataDir, 'token-secret'));
const metricsPort = metricsPortFromEnv();

const coordinator = await createCoordinator({
  store,
  tasks,
  appDir,
  datasetsDir,
  sdkDir: join(root, 'lib'),
  limits: limitsFromEnv(DEFAULT_LIMITS),
  tokenSecret,
  logger: { level: process.env.LOG_LEVEL ?? 'info' },
  trustProxy: trustProxyFromEnv(),
  requireClientKeys: flagFromEnv('COVEY_REQUIRE_CLIENT_KEYS', false),
  hosts: hostPolicy(publicOriginsFromEnv(), host),
  operatorToken,
  metricsAccess: metricsPort === null ? 'operator' : 'none',
  // Tasks the operator adds from the dashboard are kept with those of `npm run covey -- task add`; their relative paths are read as from tasks/.
  taskRegistry: { dir: join(dataDir, 'tasks'), baseDir: tasksDir, roots: [root, dataDir], prepare },
});
const metricsServer = metricsPort === null ? null : await serveMetrics(coordinator.metrics, metricsPort, process.env.COVEY_METRICS_HOST ?? '127.0.0.1', publicOriginsFromEnv());

const shutdown = async (signal: string) => {
  coordinator.server.log.info(`${signal}: closing`);
  await metricsServer?.close();
  await coordinator.close();
  process.exit(0);
};
process.once('SIGINT', () => void shutdown('SIGINT'));
process.once('SIGTERM', () => void shutdown('SIGTERM'));

await coordinator.server.listen({ port, host });
const address = coordinator.server.server.address();
const boundPort = typeof address === 'object' && address ? address.port : port;
const shown = host === '0.0.0.0' || host === '127.0.0.1' ? 'localhost' : host;
console.log(`\n  Covey is running. Open http://${shown}:${boundPort}/ in a browser (state in ${shared ? 'PostgreSQL' : dataDir}).`);
const tokenAt = process.env.COVEY_OPERATOR_TOKEN ? 'COVEY_OPERATOR_TOKEN' : shared ? 'the database (table secrets, name operator-token)' : join(dataDir, 'operator-token');
// The link carries the token: printed whole only to a terminal, not into logs that others may read.
const metricsLine = metricsServer ? `/metrics is on ${metricsServer.url}` : '/metrics takes it as Authorization: Bearer <token>';
if (process.stdout.isTTY) {
  console.log(`  The operator's dashboard: http://${shown}:${boundPort}/dashboard#token=${operatorToken}`);
  console.log(`  (the token is ${process.env.COVEY_OPERATOR_TOKEN ? 'COVEY_OPERATOR_TOKEN' : `kept in ${tokenAt}`}; ${metricsLine})\n`);
} else {
  console.log(`  The operator's dashboard: http://${shown}:${boundPort}/dashboard#token=<the token in ${tokenAt}>`);
  console.log(`  (${metricsLine})\n`);
}
if (!existsSync(appDir)) console.log('  (the app is not built: run `npm run build` to serve it)\n');
