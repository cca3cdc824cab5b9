/**
 * Several coordinator processes: the load of bench/load.ts (N simulated clients enrol, check in, download
 * the digits model and upload an 82 kB update; one round of N) through the round-robin balancer
 * (scripts/balancer.ts) in front of 1, 2 and 4 coordinator processes on one PostgreSQL, against one
 * process on the embedded SQLite store behind the same balancer, in the same run. Each configuration
 * starts afresh (a new schema, or a new data directory) and must close its round with exactly N updates.
 *
 * The machine's cores are shared by everything here: the load generator, the balancer, the coordinator
 * processes and PostgreSQL. On a 2-core machine more processes cannot add cores, so this measures what
 * the multi-process design costs per request and whether it stays correct under load, not how it scales
 * on a machine per process (see README's capacity estimate for that).
 *
 * Options (environment): PROCESSES_CLIENTS (1000), PROCESSES_CONCURRENCY (32), PROCESSES_COUNTS ("1,2,4").
 */
import { cpus } from 'node:os';
import { startBalancer } from '../scripts/balancer.ts';
import { postgresBinDir, startCluster, type Cluster } from '../src/coordinator/postgres/cluster.ts';
import type { HistoryPoint } from '../src/core/protocol.ts';
import { startCoordinator, type RunningCoordinator } from '../e2e/coordinator.ts';
import { percentile, simulateClients, type Step } from './load-clients.ts';

const CLIENTS = Number(process.env.PROCESSES_CLIENTS ?? 1000);
const CONCURRENCY = Number(process.env.PROCESSES_CONCURRENCY ?? 32);
const COUNTS = (process.env.PROCESSES_COUNTS ?? '1,2,4').split(',').map(Number);

interface Result {
  store: string;
  processes: number;
  seconds: number;
  latencies: Map<Step, number[]>;
  closeMs: number;
  uploadsPer: number[];
}

async function run(store: 'SQLite' | 'PostgreSQL', processes: number, cluster: Cluster | null, schema: string): Promise<Result> {
  const env: Record<string, string> = {
    COVEY_MIN_CLIENTS: String(CLIENTS),
    COVEY_TARGET_CLIENTS: String(CLIENTS),
    COVEY_ROUND_DEADLINE_S: '3600',
    COVEY_RATE_LIMIT_IP: '1000000/1000000',
    COVEY_RATE_LIMIT_ENROL: '1000000',
    COVEY_MAX_UPLOADS_PER_IP: '1000',
    COVEY_OPERATOR_TOKEN: 'bench-operator-token-0123456789',
    ...(cluster ? { COVEY_DATABASE_URL: cluster.url, COVEY_DATABASE_SCHEMA: schema } : {}),
  };
  // One after another: the first makes the schema and version 0, the others find them.
  const coordinators: RunningCoordinator[] = [];
  for (let i = 0; i < processes; i++) coordinators.push(await startCoordinator(env));
  const balancer = await startBalancer(coordinators.map((c) => c.url));
  try {
    const parameterCount = ((await (await fetch(`${balancer.url}/v1/tasks/digits`)).json()) as { parameterCount: number }).parameterCount;
    const delta = new Float32Array(parameterCount).map((_, i) => Math.sin(i) * 1e-3);
    const { seconds, latencies } = await simulateClients(balancer.url, CLIENTS, CONCURRENCY, delta, `${schema}-client`);
    const t0 = performance.now();
    const latest = async () => ((await (await fetch(`${balancer.url}/v1/tasks/digits/history`)).json()) as HistoryPoint[]).at(-1)!;
    let last = await latest();
    while (last.version !== 1) {
      if (performance.now() - t0 > 60_000) throw new Error('the round did not close within 60 s of the last upload');
      await new Promise((r) => setTimeout(r, 20));
      last = await latest();
    }
    if (last.numClients !== CLIENTS) throw new Error(`the round aggregated ${last.numClients} updates, not ${CLIENTS}`);
    return { store, processes, seconds, latencies, closeMs: performance.now() - t0, uploadsPer: coordinators.map((c) => balancer.uploads.get(new URL(c.url).origin) ?? 0) };
  } finally {
    await balancer.close();
    await Promise.all(coordinators.map((c) => c.stop()));
  }
}

const results: Result[] = [];
process.stderr.write(`  SQLite, 1 process, ${CLIENTS} clients…\n`);
results.push(await run('SQLite', 1, null, 'sqlite'));
if (!postgresBinDir()) {
  console.log('\nPostgreSQL is not installed (Debian: apt-get install postgresql): only the SQLite line was measured.');
} else {
  const cluster = await startCluster();
  try {
    for (const n of COUNTS) {
      process.stderr.write(`  PostgreSQL, ${n} process${n === 1 ? '' : 'es'}, ${CLIENTS} clients…\n`);
      results.push(await run('PostgreSQL', n, cluster, `bench_${n}`));
    }
  } finally {
    cluster.stop();
  }
}

const lat = (r: Result, s: Step) => {
  const sorted = [...r.latencies.get(s)!].sort((a, b) => a - b);
  return `${percentile(sorted, 50).toFixed(1)}/${percentile(sorted, 99).toFixed(1)} ms`.padStart(17);
};
const base = results[0]!;
console.log(`\nSeveral processes: ${CLIENTS} simulated clients (${CONCURRENCY} at a time), digits f32 updates of 82 kB, one round of ${CLIENTS}, through scripts/balancer.ts; ${cpus().length} cores (${cpus()[0]?.model ?? '?'}) shared by all of it\n`);
console.log('store       processes  requests/s  vs SQLite   checkin p50/p99    weights.bin p50/p99  upload p50/p99     round closed after last upload  uploads per process');
for (const r of results) {
  const rate = (CLIENTS * 5) / r.seconds;
  console.log(
    `${r.store.padEnd(10)}  ${String(r.processes).padStart(9)}  ${rate.toFixed(0).padStart(10)}  ${`${(rate / ((CLIENTS * 5) / base.seconds)).toFixed(2)}×`.padStart(8)}  ${lat(r, 'checkin')}  ${lat(r, 'weights.bin')}    ${lat(r, 'upload')}  ${`${r.closeMs.toFixed(0)} ms`.padStart(30)}  ${r.uploadsPer.join(' / ')}`,
  );
}
