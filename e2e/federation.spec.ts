import { decodeRecords } from '../src/core/example-records.ts';
import { expect, test, type Participant } from './fixtures.ts';
import { auditRequests } from './privacy.ts';

const ROUNDS = 3;
// Every round waits for all three browsers, so each of them contributes to each round.
test.use({ coordinatorEnv: { COVEY_MIN_CLIENTS: '3', COVEY_TARGET_CLIENTS: '3', COVEY_ROUND_DEADLINE_S: '300' } });

test('three browsers with different shards train the digits model together over WebGL', async ({ participant, coordinator }) => {
  const people: Participant[] = [];
  for (const shard of [0, 1, 2]) {
    const p = await participant();
    await p.app.open(coordinator.url, `?shard=${shard}`);
    expect(await p.app.loadSampleData()).toBe(500);
    people.push(p);
  }
  for (const p of people) await p.app.join();
  for (const p of people) expect(await p.app.backend()).toBe('webgl');
  await expect(people[0]!.page.getByTestId('fallbacks')).toContainText('webgpu not used');

  await expect
    .poll(async () => (await coordinator.history()).filter((h) => h.accuracy !== null).length, { timeout: 5 * 60_000, intervals: [2_000] })
    .toBeGreaterThanOrEqual(ROUNDS + 1);
  for (const p of people) await p.app.leave();

  const history = (await coordinator.history()).slice(0, ROUNDS + 1);
  console.log('\nround  version  clients  examples  held-out accuracy  loss');
  for (const h of history) {
    console.log(`${String(h.roundId ?? '-').padStart(5)}  ${String(h.version).padStart(7)}  ${String(h.numClients).padStart(7)}  ${String(h.numExamples).padStart(8)}  ${(h.accuracy! * 100).toFixed(1).padStart(16)} %  ${h.loss!.toFixed(3)}`);
  }
  const initial = history[0]!.accuracy!;
  const final = history[ROUNDS]!.accuracy!;
  expect(history.slice(1).every((h) => h.numClients === 3 && h.numExamples === 1500)).toBe(true);
  expect(final).toBeGreaterThanOrEqual(0.8);
  expect(final - initial).toBeGreaterThan(0.3);
  for (const p of people) expect(await p.app.contributions()).toBeGreaterThanOrEqual(ROUNDS);
  await expect(people[0]!.page.getByTestId('chart').locator('circle')).toHaveCount((await coordinator.history()).length);

  // Privacy: compare every request body with the examples these people hold.
  const { parameterCount } = await coordinator.task();
  for (const [i, p] of people.entries()) {
    const shard = await (await fetch(`${coordinator.url}/datasets/digits/iid/0${i}.bin`)).arrayBuffer();
    const examples = decodeRecords(new Uint8Array(shard), 784).map((e) => e.pixels);
    const report = auditRequests(p.requests, parameterCount, examples);
    expect(report.uploads.length).toBeGreaterThanOrEqual(ROUNDS);
    expect(report.uploads.every((u) => u.meta.numExamples === 500 && u.meta.backend === 'webgl')).toBe(true);
    // The worker's own requests are recorded too: it downloads each round's model.
    expect(p.requests.some((r) => /\/models\/\d+\/weights\.bin\?lineage=[\w-]+$/.test(r.url))).toBe(true);
  }
});
