/**
 * Several coordinator processes on one PostgreSQL: three browsers train the digits model through a
 * round-robin balancer in front of two processes (scripts/balancer.ts; nginx in production,
 * deploy/nginx.conf). Every request may go to either process: check-ins, model downloads and uploads
 * land on both, and the rounds still close exactly once, each with all three updates.
 */
import { join } from 'node:path';
import { postgresBinDir, startCluster } from '../src/coordinator/postgres/cluster.ts';
import { startBalancer } from '../scripts/balancer.ts';
import type { HistoryPoint, TaskSummary } from '../src/core/protocol.ts';
import { digitsTaskWithCodec, QUICK_TRAINING, startCoordinator, type RunningCoordinator } from './coordinator.ts';
import { expect, joinedPeople, test as base } from './fixtures.ts';

const ROUNDS = 2;

const test = base.extend({
  // The test's "coordinator" is the balancer's address in front of two processes sharing a fresh cluster.
  // eslint-disable-next-line no-empty-pattern -- Playwright reads the fixtures a fixture needs from its first parameter: this one needs none
  coordinator: async ({}, use) => {
    const cluster = await startCluster({ durable: false });
    const tasksDir = digitsTaskWithCodec('f32', undefined, {}, QUICK_TRAINING);
    const env = { COVEY_TASKS_DIR: tasksDir, COVEY_DATABASE_URL: cluster.url, COVEY_MIN_CLIENTS: '3', COVEY_TARGET_CLIENTS: '3', COVEY_ROUND_DEADLINE_S: '300', COVEY_OPERATOR_TOKEN: 'operator-token-for-two-processes' };
    const processes = await Promise.all([startCoordinator(env), startCoordinator(env)]);
    const balancer = await startBalancer(processes.map((p) => p.url));
    const get = async <T>(path: string): Promise<T> => (await (await fetch(balancer.url + path)).json()) as T;
    const front: RunningCoordinator & { processes: RunningCoordinator[]; uploads: Map<string, number> } = {
      url: balancer.url,
      operatorToken: env.COVEY_OPERATOR_TOKEN,
      dataDir: join(cluster.dir, 'data'),
      exited: Promise.race(processes.map((p) => p.exited)),
      kill: async () => void (await Promise.all(processes.map((p) => p.kill()))),
      logs: () => processes.map((p) => p.logs()).join('\n'),
      history: (task = 'digits') => get<HistoryPoint[]>(`/v1/tasks/${task}/history`),
      task: (task = 'digits') => get<TaskSummary>(`/v1/tasks/${task}`),
      stop: async () => {
        await balancer.close();
        await Promise.all(processes.map((p) => p.stop()));
        cluster.stop();
      },
      processes,
      uploads: balancer.uploads,
    };
    await use(front);
    await front.stop();
  },
});

test.skip(!postgresBinDir() && !process.env.CI, 'PostgreSQL is not installed (CI installs it)');

test('three browsers train together through a balancer over two coordinator processes on PostgreSQL', async ({ participant, coordinator }) => {
  const { processes, uploads } = coordinator as RunningCoordinator & { processes: RunningCoordinator[]; uploads: Map<string, number> };
  const people = await joinedPeople(participant, coordinator.url, [0, 1, 2]);
  await expect
    .poll(async () => (await coordinator.history()).filter((h) => h.accuracy !== null).length, { timeout: 5 * 60_000, intervals: [2_000] })
    .toBeGreaterThanOrEqual(ROUNDS + 1);
  for (const p of people) await p.app.leave();

  // Each round closed once, with all three updates, whichever process took them.
  const history = (await coordinator.history()).slice(0, ROUNDS + 1);
  expect(history.map((h) => [h.version, h.numClients])).toEqual([[0, 0], ...Array.from({ length: ROUNDS }, (_, i) => [i + 1, 3])]);
  console.log(`\nheld-out accuracy by version: ${history.map((h) => `v${h.version} ${(h.accuracy! * 100).toFixed(1)} %`).join(', ')}`);
  console.log(`updates taken by each process: ${[...uploads.values()].join(' and ')}`);
  expect(history[ROUNDS]!.accuracy! - history[0]!.accuracy!).toBeGreaterThan(0.3);
  // Both processes took uploads, and both serve the newest version at once (each read directly, not through the balancer).
  expect(uploads.size).toBe(2);
  const versions = await Promise.all(processes.map(async (p) => ((await (await fetch(`${p.url}/v1/tasks/digits`)).json()) as TaskSummary).modelVersion));
  const newest = (await coordinator.history()).at(-1)!.version;
  expect(versions).toEqual([newest, newest]);
  for (const p of processes) {
    const weights = await fetch(`${p.url}/v1/tasks/digits/models/${newest}/weights.bin`);
    expect(weights.status).toBe(200);
    expect((await weights.arrayBuffer()).byteLength).toBe(4 * (await coordinator.task()).parameterCount);
  }
  for (const p of people) expect(await p.app.contributions()).toBeGreaterThanOrEqual(ROUNDS);
});
