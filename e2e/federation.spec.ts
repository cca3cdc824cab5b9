import { isHeldOut } from '../src/client/store.ts';
import { decodeRecords } from '../src/core/example-records.ts';
import { expect, joinedPeople, test } from './fixtures.ts';
import { auditRequests } from './privacy.ts';

const ROUNDS = 3;
/** Each browser loads 500 digits (keys 1–500); about 15 % of them are held out for federated evaluation, never trained on. */
const HELD_OUT = Array.from({ length: 500 }, (_, i) => isHeldOut({ id: i + 1 })).filter(Boolean).length;
const TRAINED = 500 - HELD_OUT;
// Every round waits for all three browsers, so each of them contributes to each round.
test.use({ coordinatorEnv: { COVEY_MIN_CLIENTS: '3', COVEY_TARGET_CLIENTS: '3', COVEY_ROUND_DEADLINE_S: '300' } });

test('three browsers with different shards train the digits model together over WebGL', async ({ participant, coordinator }) => {
  const people = await joinedPeople(participant, coordinator.url, [0, 1, 2]);
  for (const p of people) expect(await p.app.backend()).toBe('webgl');

  await expect
    .poll(async () => (await coordinator.history()).filter((h) => h.accuracy !== null).length, { timeout: 5 * 60_000, intervals: [2_000] })
    .toBeGreaterThanOrEqual(ROUNDS + 1);
  for (const p of people) await p.app.leave();

  const history = (await coordinator.history()).slice(0, ROUNDS + 1);
  console.log('\nround  version  clients  examples  held-out accuracy  loss   federated (people\'s held-out)  personal');
  for (const h of history) {
    const fed = h.federated ? `${(h.federated.accuracy * 100).toFixed(1)} % on ${h.federated.examples}` : '–';
    const personal = h.federated?.personalAccuracy === undefined ? '–' : `${(h.federated.personalAccuracy * 100).toFixed(1)} %`;
    console.log(`${String(h.roundId ?? '-').padStart(5)}  ${String(h.version).padStart(7)}  ${String(h.numClients).padStart(7)}  ${String(h.numExamples).padStart(8)}  ${(h.accuracy! * 100).toFixed(1).padStart(16)} %  ${h.loss!.toFixed(3)}  ${fed.padStart(26)}  ${personal.padStart(8)}`);
  }
  const initial = history[0]!.accuracy!;
  const final = history[ROUNDS]!.accuracy!;
  expect(history.slice(1).every((h) => h.numClients === 3 && h.numExamples === 3 * TRAINED)).toBe(true);
  // Federated evaluation: each version the browsers trained from was scored on their held-out examples, and
  // the personal models (fine-tuned on each person's own examples) were scored on the same ones.
  for (const h of history.slice(0, ROUNDS)) {
    expect(h.federated).toMatchObject({ examples: 3 * HELD_OUT, clients: 3 });
    expect(h.federated!.personalAccuracy).toBeGreaterThanOrEqual(0);
  }
  expect(history[ROUNDS - 1]!.federated!.accuracy).toBeGreaterThan(0.6);
  expect(final).toBeGreaterThanOrEqual(0.8);
  expect(final - initial).toBeGreaterThan(0.3);
  for (const p of people) expect(await p.app.contributions()).toBeGreaterThanOrEqual(ROUNDS);
  const versions = await coordinator.history();
  await expect(people[0]!.page.getByTestId('chart').locator('circle:not(.federated)')).toHaveCount(versions.length);
  await expect(people[0]!.page.getByTestId('chart').locator('circle.federated')).toHaveCount(versions.filter((h) => h.federated).length);
  // The app shows the person's own model beside the shared one, and what the shared model makes of a drawing.
  await expect(people[0]!.page.getByTestId('personal')).toHaveText(/^Your model: \d+ % on your \d+ held-out examples; the shared model: \d+ %\.$/);
  await people[0]!.app.sketchDigit(1);
  await expect(people[0]!.page.getByTestId('prediction')).toHaveText(/^The shared model \(v\d+\) sees \d \(\d+ %\).*; your own model sees \d \(\d+ %\)/);

  // Privacy: compare every request body with the examples these people hold.
  const { parameterCount } = await coordinator.task();
  for (const [i, p] of people.entries()) {
    const shard = await (await fetch(`${coordinator.url}/datasets/digits/iid/0${i}.bin`)).arrayBuffer();
    const examples = decodeRecords(new Uint8Array(shard), 784).map((e) => e.pixels);
    const report = auditRequests(p.requests, parameterCount, examples);
    expect(report.uploads.length).toBeGreaterThanOrEqual(ROUNDS);
    expect(report.uploads.every((u) => u.meta.numExamples === TRAINED && u.meta.backend === 'webgl')).toBe(true);
    // The worker's own requests are recorded too: it downloads each round's model.
    expect(p.requests.some((r) => /\/models\/\d+\/weights\.bin\?lineage=[\w-]+$/.test(r.url))).toBe(true);
  }
});
