/**
 * `npm run bench` (and `tsx bench/secagg.ts` alone): secure aggregation's cost for an update of the digits
 * CNN (20,490 parameters), for 10, 100 and 500 clients, with 0, 10 and 30 % of them dropping out (each at a
 * random phase): bytes a client sends and receives against the plaintext f32 upload, and the protocol's
 * compute time per client and at the coordinator (ECDH, Shamir, AES-CTR masks; training excluded). The full
 * graph up to 100 clients; 500 need SecAgg+ (32 neighbours: Shamir over GF(256) has at most 255 holders).
 * The clients run the protocol against the coordinator's own Federation in memory, as the simulator's
 * secure rounds do (src/sim/secure-rounds.ts).
 */
import os from 'node:os';
import { Federation } from '../src/coordinator/federation.ts';
import { SqliteStore } from '../src/coordinator/sqlite-store.ts';
import { loadTaskFile } from '../src/coordinator/task-file.ts';
import { maxFrameBytes } from '../src/core/update-frame.ts';
import { runSecureRound, SECURE_PHASES, type SecureRoundReport } from '../src/sim/secure-rounds.ts';

const PARAMETERS = 20_490;
const plaintext = maxFrameBytes(PARAMETERS * 4);
const digits = loadTaskFile('tasks/digits.json');

async function run(clients: number, neighbours: number | null, dropout: number, seed: number): Promise<SecureRoundReport> {
  let r = seed;
  const random = () => (r = (r * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  let now = 0;
  const task = {
    ...digits,
    privacy: undefined,
    rounds: { minClients: Math.ceil(clients / 2), targetClients: clients, deadlineMs: 60_000 },
    secureAggregation: { threshold: 0.6, neighbours, curve: 'P-256' as const, clipNorm: 1, phaseMs: 1_000 },
    training: { ...digits.training, codec: 'f32', clipNorm: 1 },
  };
  const store = new SqliteStore(':memory:');
  const federation = new Federation(task, new Float32Array(PARAMETERS), store, {}, () => now);
  try {
    const update = new Float32Array(PARAMETERS).map((_, i) => Math.sin(i) / 200);
    const inputs = Array.from({ length: clients }, (_, k) => {
      const clientId = `client-${String(k).padStart(4, '0')}`;
      const answer = federation.checkin({ clientId, exampleCount: 10 });
      if (answer.status !== 'assigned' || !answer.secureAggregation) throw new Error(`${clientId} was not assigned a secure round`);
      return { clientId, params: answer.secureAggregation, update };
    });
    const drops = new Map(inputs.map((i) => [i.clientId, random() < dropout ? SECURE_PHASES[Math.floor(random() * 4)] : undefined]));
    return await runSecureRound(federation, inputs, (id) => drops.get(id), { get now() { return now; }, jump: (to) => (now = Math.max(now, to)) });
  } finally {
    await federation.settle();
    federation.stop();
    store.close();
  }
}

const rows: { clients: number; neighbours: number | null; dropout: number; report: SecureRoundReport }[] = [];
for (const [clients, neighbours] of [[10, null], [100, null], [100, 32], [500, 32]] as const) {
  for (const dropout of [0, 0.1, 0.3]) {
    const report = await run(clients, neighbours, dropout, clients * 31 + dropout * 1000);
    rows.push({ clients, neighbours, dropout, report });
    process.stderr.write(`${clients} clients, ${neighbours ?? 'all'} neighbours, ${dropout * 100} % dropout: ${(report.bytesUp / plaintext).toFixed(3)}× up, ${report.clientMs.toFixed(0)} ms a client, ${report.coordinatorMs.toFixed(0)} ms coordinator${report.completed ? '' : ' (aborted)'}\n`);
  }
}
console.log(`\nSecure aggregation, an update of ${PARAMETERS.toLocaleString('en')} parameters (plaintext f32 frame ${(plaintext / 1000).toFixed(1)} kB); Node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'} × ${os.cpus().length}; per client that stayed to the end\n`);
console.log('| clients | neighbours | dropout | sent | vs plaintext | received | client compute | coordinator compute | round |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const { clients, neighbours, dropout, report: r } of rows) {
  console.log(`| ${clients} | ${neighbours ?? 'all'} | ${dropout * 100} % | ${(r.bytesUp / 1000).toFixed(1)} kB | ${(r.bytesUp / plaintext).toFixed(3)}× | ${(r.bytesDown / 1000).toFixed(1)} kB | ${r.clientMs.toFixed(0)} ms | ${(r.coordinatorMs / 1000).toFixed(2)} s | ${r.completed ? 'summed' : 'aborted'} |`);
}
