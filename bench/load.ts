/**
 * Load benchmark: the real coordinator (a child process, digits task, f32 updates of 82 kB) under a bounded
 * generator on loopback. N simulated clients each enrol, check in, download the model (model.json + weights.bin)
 * and upload an update; the round waits for all N. Prints throughput, p50/p99 latency per step and the
 * coordinator's peak resident memory, for 100 and for 1,000 clients: with streaming aggregation it should
 * not grow with the clients. Then aggregation throughput in GB/s against a plain Float32Array sum loop
 * measured in the same run (the practical memory-bandwidth limit).
 *
 * Options (environment): LOAD_CLIENTS ("100,1000"), LOAD_CONCURRENCY (32).
 */
import { fedAvg } from '../src/core/strategies/fedavg.ts';
import { startCoordinator, type RunningCoordinator } from '../e2e/coordinator.ts';
import { percentile, simulateClients, type Step } from './load-clients.ts';

const SIZES = (process.env.LOAD_CLIENTS ?? '100,1000').split(',').map(Number);
const CONCURRENCY = Number(process.env.LOAD_CONCURRENCY ?? 32);
async function residentBytes(c: RunningCoordinator): Promise<number> {
  const text = await (await fetch(`${c.url}/metrics`, { headers: { authorization: `Bearer ${c.operatorToken}` } })).text();
  return Number(/^covey_process_resident_memory_bytes (\d+)$/m.exec(text)?.[1] ?? NaN);
}

async function run(clients: number) {
  const c = await startCoordinator({ COVEY_MIN_CLIENTS: String(clients), COVEY_TARGET_CLIENTS: String(clients), COVEY_ROUND_DEADLINE_S: '3600', COVEY_RATE_LIMIT_IP: '1000000/1000000', COVEY_RATE_LIMIT_ENROL: '1000000', COVEY_MAX_UPLOADS_PER_IP: '1000' });
  try {
    const { parameterCount } = await c.task();
    const delta = new Float32Array(parameterCount).map((_, i) => Math.sin(i) * 1e-3);
    const baseline = await residentBytes(c);
    let peak = baseline;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, await residentBytes(c));
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const { seconds, latencies } = await simulateClients(c.url, clients, CONCURRENCY, delta);
    await new Promise((r) => setTimeout(r, 300));
    sampling = false;
    await sampler;
    const history = await c.history();
    if (history.at(-1)?.numClients !== clients) throw new Error(`the round did not aggregate ${clients} updates: ${JSON.stringify(history.at(-1))}`);
    return { clients, seconds, requests: clients * 5, latencies, baseline, peak };
  } finally {
    await c.stop();
  }
}

function aggregationThroughput() {
  const params = 1_000_000;
  const updates = 40;
  const deltas = Array.from({ length: 4 }, (_, k) => new Float32Array(params).map((_, i) => Math.sin(i + k)));
  const bytes = updates * params * 4;
  const time = (work: () => void) => {
    work(); // warm up
    const t0 = performance.now();
    work();
    return (performance.now() - t0) / 1000;
  };
  const plain = time(() => {
    const sum = new Float32Array(params);
    for (let u = 0; u < updates; u++) {
      const d = deltas[u % deltas.length]!;
      for (let i = 0; i < params; i++) sum[i]! += d[i]!;
    }
  });
  const fedavg = time(() => {
    const acc = fedAvg.createAccumulator(params);
    for (let u = 0; u < updates; u++) acc.add(deltas[u % deltas.length]!, 100);
    acc.finish();
  });
  return { plain: bytes / plain / 1e9, fedavg: bytes / fedavg / 1e9 };
}

const results = [];
for (const n of SIZES) {
  process.stderr.write(`  ${n} clients…\n`);
  results.push(await run(n));
}
console.log(`\nLoad: digits task (f32 updates of 82 kB), ${CONCURRENCY} concurrent simulated clients on loopback, one round of N\n`);
console.log('clients  requests/s  checkin p50/p99  model.json p50/p99  weights.bin p50/p99  upload p50/p99    RSS start → peak');
for (const r of results) {
  const lat = (s: Step) => {
    const sorted = [...r.latencies.get(s)!].sort((a, b) => a - b);
    return `${percentile(sorted, 50).toFixed(1)}/${percentile(sorted, 99).toFixed(1)} ms`.padStart(17);
  };
  console.log(`${String(r.clients).padStart(7)}  ${(r.requests / r.seconds).toFixed(0).padStart(10)}  ${lat('checkin')}  ${lat('model.json')}    ${lat('weights.bin')}    ${lat('upload')}  ${(r.baseline / 2 ** 20).toFixed(0)} → ${(r.peak / 2 ** 20).toFixed(0)} MiB`);
}
if (results.length >= 2) {
  const [a, b] = [results[0]!, results.at(-1)!];
  console.log(`\nPeak memory growth from ${a.clients} to ${b.clients} clients: ${((b.peak - b.baseline - (a.peak - a.baseline)) / 2 ** 20).toFixed(1)} MiB (${(b.peak / a.peak).toFixed(2)}× peak RSS)`);
}
const agg = aggregationThroughput();
console.log(`\nAggregation, 40 updates of 1 M parameters: FedAvg accumulator ${agg.fedavg.toFixed(2)} GB/s, plain Float32Array sum loop ${agg.plain.toFixed(2)} GB/s (${((agg.fedavg / agg.plain) * 100).toFixed(0)} % of it)`);
