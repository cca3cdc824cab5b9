/**
 * The simulated clients of the load benchmarks (load.ts, processes.ts): each enrols, checks in for the
 * digits task, downloads the model (model.json and weights.bin) and uploads an f32 update, `concurrency`
 * at a time, until `clients` have; every step's latency is kept.
 */
import { f32 } from '../src/core/codecs/f32.ts';
import { encodeUpdateFrame } from '../src/core/update-frame.ts';
import { authHeaders } from '../e2e/coordinator.ts';

export type Step = 'enrol' | 'checkin' | 'model.json' | 'weights.bin' | 'upload';
export const STEPS: Step[] = ['enrol', 'checkin', 'model.json', 'weights.bin', 'upload'];

export const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

async function timed<T>(latencies: Map<Step, number[]>, step: Step, work: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const result = await work();
  latencies.get(step)!.push(performance.now() - t0);
  return result;
}

/** Runs the clients against `url`; their ids start with `prefix` (distinct per run on one store). */
export async function simulateClients(url: string, clients: number, concurrency: number, delta: Float32Array, prefix = 'load-client'): Promise<{ seconds: number; latencies: Map<Step, number[]> }> {
  const latencies = new Map<Step, number[]>(STEPS.map((s) => [s, []]));
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < clients) {
      const clientId = `${prefix}-${String(next++).padStart(6, '0')}`;
      const auth = await timed(latencies, 'enrol', () => authHeaders(url, clientId));
      const assignment = (await timed(latencies, 'checkin', async () =>
        (await fetch(`${url}/v1/tasks/digits/checkin`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify({ clientId, exampleCount: 100 }) })).json(),
      )) as { status: string; modelUrl: string; uploadUrl: string; modelVersion: number };
      if (assignment.status !== 'assigned') throw new Error(`${clientId} not assigned: ${JSON.stringify(assignment)}`);
      await timed(latencies, 'model.json', async () => (await fetch(url + assignment.modelUrl)).arrayBuffer());
      await timed(latencies, 'weights.bin', async () => (await fetch(url + assignment.modelUrl.replace('model.json', 'weights.bin'))).arrayBuffer());
      const frame = encodeUpdateFrame(f32, { clientId, baseVersion: assignment.modelVersion, numExamples: 100, loss: 1 }, delta);
      const res = await timed(latencies, 'upload', () => fetch(`${url}${assignment.uploadUrl}u-${clientId}`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', ...auth }, body: frame }));
      if (res.status !== 200) throw new Error(`${clientId} upload: ${res.status} ${await res.text()}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { seconds: (performance.now() - started) / 1000, latencies };
}
