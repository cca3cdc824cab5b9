import { expect, test, type Participant } from './fixtures.ts';

const ROUNDS = 3;
// Three banks' customers, each with their own CSV of transactions; every round waits for all three.
test.use({ coordinatorEnv: { COVEY_MIN_CLIENTS: '3', COVEY_TARGET_CLIENTS: '3', COVEY_ROUND_DEADLINE_S: '300' } });

test('the fraud task trains over rounds from CSV files people import, and its held-out AUC improves', async ({ participant, coordinator }) => {
  const people: Participant[] = [];
  for (const client of ['00', '02', '06']) {
    const p = await participant();
    await p.app.open(coordinator.url, '?task=fraud');
    await expect(p.page.locator('#task-name')).toContainText('Card fraud');
    await p.page.getByTestId('import-csv').setInputFiles(`.generated/datasets/fraud/clients/${client}.csv`);
    await expect(p.page.getByTestId('data-message')).toContainText(`records from ${client}.csv`);
    expect(await p.app.countOfLabel('fraud')).toBeGreaterThan(0);
    people.push(p);
  }
  for (const p of people) await p.app.join();

  await expect
    .poll(async () => (await coordinator.history('fraud')).filter((h) => h.metrics.auc !== undefined).length, { timeout: 4 * 60_000, intervals: [2_000] })
    .toBeGreaterThanOrEqual(ROUNDS + 1);
  for (const p of people) await p.app.leave();

  const history = (await coordinator.history('fraud')).slice(0, ROUNDS + 1);
  console.log('\nround  version  clients  examples    AUC     F1   accuracy');
  for (const h of history) {
    const m = h.metrics;
    console.log(`${String(h.roundId ?? '-').padStart(5)}  ${String(h.version).padStart(7)}  ${String(h.numClients).padStart(7)}  ${String(h.numExamples).padStart(8)}  ${m.auc!.toFixed(3)}  ${m.f1!.toFixed(3)}  ${(m.accuracy! * 100).toFixed(1).padStart(7)} %`);
  }
  expect(history[ROUNDS]!.metrics.auc!).toBeGreaterThan(history[0]!.metrics.auc! + 0.3);
  expect(history[ROUNDS]!.metrics.auc!).toBeGreaterThan(0.9);
  await expect(people[0]!.page.locator('#metric-name')).toHaveText('Held-out AUC');
});
