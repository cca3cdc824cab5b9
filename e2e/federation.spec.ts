import { readFileSync } from 'node:fs';
import { isHeldOut } from '../src/client/store.ts';
import { decodeRecords } from '../src/core/example-records.ts';
import { authHeaders } from './coordinator.ts';
import { Dashboard } from './dashboard.ts';
import { expect, joinedPeople, test } from './fixtures.ts';
import { auditRequests } from './privacy.ts';

const ROUNDS = 3;
/** Each browser loads 500 digits (keys 1–500); about 15 % of them are held out for federated evaluation, never trained on. */
const HELD_OUT = Array.from({ length: 500 }, (_, i) => isHeldOut({ id: i + 1 })).filter(Boolean).length;
const TRAINED = 500 - HELD_OUT;
// Every round waits for all three browsers, so each of them contributes to each round.
test.use({ coordinatorEnv: { COVEY_MIN_CLIENTS: '3', COVEY_TARGET_CLIENTS: '3', COVEY_ROUND_DEADLINE_S: '300' } });

test('three browsers with different shards train the digits model together over WebGL, watched and steered from the operator\'s dashboard', async ({ participant, coordinator, browser }) => {
  // The operator: refused without the token, in with the link npm start prints; the task paused before anyone comes.
  const dash = await Dashboard.open(browser);
  await dash.goto(coordinator.url, null);
  await expect(dash.page.getByTestId('login')).toBeVisible();
  expect((await fetch(`${coordinator.url}/v1/operator/tasks`)).status).toBe(401);
  expect((await fetch(`${coordinator.url}/metrics`)).status).toBe(401);
  await dash.goto(coordinator.url, coordinator.operatorToken);
  await dash.signedIn();
  expect(new URL(dash.page.url()).hash).toBe(''); // the token leaves the address bar
  await expect(dash.page.getByTestId('task-title')).toHaveText('Handwritten digits (digits)');
  await dash.pause();

  const people = await joinedPeople(participant, coordinator.url, [0, 1, 2]);
  for (const p of people) expect(await p.app.backend()).toBe('webgl');
  // Paused: all three are told to wait, nobody is assigned. Resumed: they come back and take their places.
  await expect(dash.roundCell(1, 'Check-ins (assigned / wait)')).toHaveText(/^0 \/ [3-9]$/, { timeout: 60_000 });
  expect((await coordinator.task()).round!.assigned).toBe(0);
  await dash.resume();
  await expect(dash.roundCell(1, 'Assigned')).toHaveText('3', { timeout: 60_000 });
  await expect(dash.page.getByTestId('s-clients')).toHaveText('3 / 3');
  // A bad upload while the round trains shows as a refusal, by its reason.
  const bad = await fetch(`${coordinator.url}/v1/tasks/digits/rounds/1/updates/bad-update-0001`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', ...(await authHeaders(coordinator.url, 'client-bogus-0001')) }, body: new Uint8Array(40) });
  expect(bad.status).toBe(400);
  await expect(dash.roundCell(1, 'Refused')).toHaveText('invalid_frame 1');
  await expect(dash.page.getByTestId('refusals')).toHaveText('invalid_frame: 1');
  await expect(dash.roundCell(1, 'State')).toHaveText('aggregated', { timeout: 3 * 60_000 });
  await expect(dash.roundCell(1, 'Reported')).toHaveText('3');
  await expect(dash.roundCell(1, 'Backends')).toHaveText('webgl 3');

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

  // The dashboard has followed every version, with its held-out accuracy, and every round.
  const shown = await coordinator.history();
  await expect(dash.page.locator('[data-testid=versions] tbody tr')).toHaveCount(shown.length);
  await expect(dash.page.getByTestId('s-metric')).toHaveText(/^\d+\.\d % \(v\d+\)$/);
  for (let round = 1; round <= ROUNDS; round++) await expect(dash.roundCell(round, 'Dropped')).toHaveText('0');
  await expect(dash.page.locator('[data-testid=chart-quality] canvas')).toHaveCount(1);
  const download = dash.page.waitForEvent('download');
  await dash.page.getByTestId('download-v1').click();
  expect((await download).suggestedFilename()).toBe('digits-v1.zip');
  // A task file with an error is refused, naming the field; nothing changes.
  const digits = JSON.parse(readFileSync('tasks/digits.json', 'utf8')) as Record<string, unknown>;
  const refused = await dash.uploadTaskFile('digits-bad.json', { ...digits, rounds: { minClients: 5, targetClients: 2, deadlineS: 60 } });
  await expect(refused).toHaveText(/^digits-bad\.json: rounds\.minClients: /);
  if (process.env.COVEY_DASHBOARD_SCREENSHOT) await dash.page.screenshot({ path: process.env.COVEY_DASHBOARD_SCREENSHOT, fullPage: true });
  expect(dash.errors, 'the dashboard must not log errors (a CSP violation would be one)').toEqual([]);
  await dash.close();
});
