/**
 * `npm run bench` (and `tsx bench/secagg.ts` alone): secure aggregation's cost for an update of the digits
 * CNN (20,490 parameters), for 10, 100 and 500 clients, with 0, 10 and 30 % of them dropping out (each at a
 * random phase): bytes a client sends and receives against the plaintext f32 upload, and the protocol's
 * compute time per client and at the coordinator (ECDH, Shamir, AES-CTR masks; training excluded). The full
 * graph up to 100 clients; 500 need SecAgg+ (32 neighbours: Shamir over GF(256) has at most 255 holders).
 * Runs the protocol objects in one process (core/secagg), as the coordinator and browsers run them.
 */
import os from 'node:os';
import { SecAggClient } from '../src/core/secagg/client.ts';
import { quantizationScale } from '../src/core/secagg/quantize.ts';
import type { SecAggParams } from '../src/core/secagg/protocol.ts';
import { SecAggServer } from '../src/core/secagg/server.ts';
import { maxFrameBytes } from '../src/core/update-frame.ts';

const PARAMETERS = Number(process.env.SECAGG_PARAMETERS ?? 20_490);
const plaintext = maxFrameBytes(PARAMETERS * 4);
const json = (v: unknown) => JSON.stringify(v).length;
const PHASES = ['keys', 'shares', 'masked', 'unmask'] as const;

interface Row { clients: number; neighbours: number | null; dropout: number; up: number; down: number; clientMs: number; coordinatorMs: number; ok: boolean }

async function run(clients: number, neighbours: number | null, dropout: number, seed: number): Promise<Row> {
  const params: SecAggParams = { taskId: 'bench', roundId: 1, curve: 'P-256', length: PARAMETERS, bound: 1, scale: quantizationScale(1, clients), minClients: Math.ceil(clients / 2), threshold: 0.6, neighbours, noiseStd: 0 };
  let r = seed;
  const random = () => ((r = (r * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const server = new SecAggServer(params);
  const people = Array.from({ length: clients }, (_, k) => ({ c: new SecAggClient(params, `client-${String(k).padStart(4, '0')}`), drop: random() < dropout ? PHASES[Math.floor(random() * 4)] : undefined, up: 0, down: 0, ms: 0 }));
  const stays = (p: (typeof people)[number], phase: (typeof PHASES)[number]) => p.drop === undefined || PHASES.indexOf(p.drop) > PHASES.indexOf(phase);
  const update = new Float32Array(PARAMETERS).map((_, i) => Math.sin(i) / 200);
  let coordinatorMs = 0;
  const onServer = async <T>(f: () => T | Promise<T>) => {
    const t = performance.now();
    const out = await f();
    coordinatorMs += performance.now() - t;
    return out;
  };
  const onClient = async <T>(p: (typeof people)[number], f: () => T | Promise<T>) => {
    const t = performance.now();
    const out = await f();
    p.ms += performance.now() - t;
    return out;
  };
  for (const p of people.filter((p) => stays(p, 'keys'))) {
    const m = await onClient(p, () => p.c.keys());
    p.up += json(m);
    await onServer(() => server.acceptKeys(m));
  }
  await onServer(() => server.closeKeys());
  if (server.phase === 'shares') {
    for (const p of people.filter((p) => stays(p, 'shares'))) {
      const roster = server.rosterFor(p.c.clientId);
      p.down += json(roster);
      const m = await onClient(p, () => p.c.shares(roster));
      p.up += json(m);
      await onServer(() => server.acceptShares(m));
    }
    await onServer(() => server.closeShares());
  }
  if (server.phase === 'masked') {
    for (const p of people.filter((p) => stays(p, 'masked'))) {
      const inbox = server.inboxFor(p.c.clientId);
      p.down += json(inbox);
      const masked = await onClient(p, () => p.c.maskedInput(inbox, update));
      p.up += masked.byteLength;
      await onServer(() => server.acceptMasked(p.c.clientId, masked));
    }
    await onServer(() => server.closeMasked());
  }
  let ok = false;
  if (server.phase === 'unmask') {
    for (const p of people.filter((p) => stays(p, 'unmask'))) {
      const survivors = server.survivorsFor(p.c.clientId);
      p.down += json(survivors);
      const m = await onClient(p, () => p.c.unmask(survivors));
      p.up += json(m);
      await onServer(() => server.acceptUnmask(m));
    }
    ok = (await onServer(() => server.finish())) !== null;
  }
  const stayed = people.filter((p) => p.drop === undefined);
  const mean = (f: (p: (typeof people)[number]) => number) => stayed.reduce((s, p) => s + f(p), 0) / stayed.length;
  return { clients, neighbours, dropout, up: mean((p) => p.up), down: mean((p) => p.down), clientMs: mean((p) => p.ms), coordinatorMs, ok };
}

const rows: Row[] = [];
for (const [clients, neighbours] of [[10, null], [100, null], [100, 32], [500, 32]] as const) {
  for (const dropout of [0, 0.1, 0.3]) {
    const row = await run(clients, neighbours, dropout, clients * 31 + dropout * 1000);
    rows.push(row);
    process.stderr.write(`${clients} clients, ${neighbours ?? 'all'} neighbours, ${dropout * 100} % dropout: ${(row.up / plaintext).toFixed(3)}× up, ${row.clientMs.toFixed(0)} ms a client, ${row.coordinatorMs.toFixed(0)} ms coordinator${row.ok ? '' : ' (aborted)'}\n`);
  }
}
console.log(`\nSecure aggregation, an update of ${PARAMETERS.toLocaleString('en')} parameters (plaintext f32 frame ${(plaintext / 1000).toFixed(1)} kB); Node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'} × ${os.cpus().length}; per client that stayed to the end\n`);
console.log('| clients | neighbours | dropout | sent | vs plaintext | received | client compute | coordinator compute | round |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.clients} | ${r.neighbours ?? 'all'} | ${r.dropout * 100} % | ${(r.up / 1000).toFixed(1)} kB | ${(r.up / plaintext).toFixed(3)}× | ${(r.down / 1000).toFixed(1)} kB | ${r.clientMs.toFixed(0)} ms | ${(r.coordinatorMs / 1000).toFixed(2)} s | ${r.ok ? 'summed' : 'aborted'} |`);
}
