/**
 * When a device trains: the person asks to train only while charging, on an unmetered connection and while
 * idle; with the browser's APIs stubbed the client waits (and says for what) without checking in, and
 * trains once they hold. Where the browser lacks an API, the condition is skipped and the app says so.
 */
import { expect, test } from './fixtures.ts';

test.use({ coordinatorEnv: { COVEY_MIN_CLIENTS: '1', COVEY_TARGET_CLIENTS: '2', COVEY_ROUND_DEADLINE_S: '600' } });

/** Runs in the page before the app: a battery, a connection and a visibility the test sets through `window.deviceStub`. */
function stubDevice(): void {
  const state = { charging: false, type: 'cellular', saveData: false, hidden: false };
  // Getters (Object.assign would copy their values once).
  const battery = Object.defineProperties(new EventTarget(), { charging: { get: () => state.charging }, level: { value: 0.5 } });
  const connection = Object.defineProperties(new EventTarget(), { type: { get: () => state.type }, saveData: { get: () => state.saveData } });
  Object.defineProperty(Navigator.prototype, 'getBattery', { configurable: true, value: () => Promise.resolve(battery) });
  Object.defineProperty(Navigator.prototype, 'connection', { configurable: true, get: () => connection });
  Object.defineProperty(Document.prototype, 'visibilityState', { configurable: true, get: () => (state.hidden ? 'hidden' : 'visible') });
  (window as unknown as { deviceStub: unknown }).deviceStub = {
    set(over: Partial<typeof state>) {
      Object.assign(state, over);
      battery.dispatchEvent(new Event('chargingchange'));
      connection.dispatchEvent(new Event('change'));
      document.dispatchEvent(new Event('visibilitychange'));
    },
  };
}

test('the device waits for the charger, Wi-Fi and an idle page, then takes part', async ({ participant, coordinator }) => {
  const { app, page, context } = await participant();
  await context.addInitScript(stubDevice);
  await app.open(coordinator.url, '?shard=3');
  await app.loadSampleData();
  await page.locator('#conditions-box summary').click();
  for (const name of ['charging', 'unmetered', 'idle']) await page.getByTestId(`condition-${name}`).check();
  await expect(page.getByTestId('condition-charging-note')).toHaveText('');
  await app.join();
  await expect(page.getByTestId('phase')).toHaveText('Waiting: waiting for the charger; waiting for an unmetered connection (Wi-Fi, no Data Saver); waiting until you are not using the page');
  await expect(page.getByTestId('conditions')).toContainText('charging: waiting for the charger');
  // Not checked in: it would hold a place it cannot use.
  expect((await coordinator.task()).round).toMatchObject({ id: 1, assigned: 0 });

  await page.evaluate(() => (window as unknown as { deviceStub: { set(o: object): void } }).deviceStub.set({ charging: true, type: 'wifi' }));
  await expect(page.getByTestId('phase')).toHaveText('Waiting: waiting until you are not using the page');
  expect((await coordinator.task()).round).toMatchObject({ assigned: 0 });

  await page.evaluate(() => (window as unknown as { deviceStub: { set(o: object): void } }).deviceStub.set({ hidden: true }));
  await expect(page.getByTestId('conditions')).toHaveText('charging: yes · unmetered: yes · idle: yes');
  // Now it checks in and is given a place (and trains; the other specs follow a round to its end).
  await expect.poll(async () => (await coordinator.task()).round!.assigned, { timeout: 60_000 }).toBe(1);
  await expect(page.getByTestId('phase')).not.toContainText('Waiting');
  await app.leave();
});

test('a condition the browser cannot tell is skipped, and the app says so', async ({ participant, coordinator }) => {
  const { app, page, context } = await participant();
  await context.addInitScript(() => {
    delete (Navigator.prototype as { getBattery?: unknown }).getBattery;
    delete (Navigator.prototype as { connection?: unknown }).connection;
  });
  await app.open(coordinator.url, '?shard=4');
  await app.loadSampleData();
  await page.locator('#conditions-box summary').click();
  await page.getByTestId('condition-charging').check();
  await page.getByTestId('condition-unmetered').check();
  await expect(page.getByTestId('condition-charging-note')).toHaveText(' (this browser cannot tell, so it is skipped)');
  await expect(page.getByTestId('condition-unmetered-note')).toHaveText(' (this browser cannot tell, so it is skipped)');
  await app.join();
  await expect(page.getByTestId('conditions')).toHaveText('charging: skipped (this browser cannot tell) · unmetered: skipped (this browser cannot tell)');
  // It does not wait for what it cannot tell: it checks in and trains.
  await expect.poll(async () => (await coordinator.task()).round!.assigned, { timeout: 60_000 }).toBe(1);
  await app.leave();
});
