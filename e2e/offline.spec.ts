import type { BrowserContext } from '@playwright/test';
import { authHeaders, type RunningCoordinator } from './coordinator.ts';
import type { CoveyApp } from './covey-app.ts';
import { expect, OFFLINE_ERRORS, test } from './fixtures.ts';

// Target 2: the round stays open after this browser's update, so it could be counted twice if it were.
test.use({ coordinatorEnv: { COVEY_MIN_CLIENTS: '1', COVEY_TARGET_CLIENTS: '2', COVEY_ROUND_DEADLINE_S: '600' } });

test('the app works offline, trains offline, and delivers the update once even when the first answer is lost', async ({ participant, coordinator }) => {
  const { app, page, context } = await participant({ expectedConsoleErrors: OFFLINE_ERRORS });
  await app.open(coordinator.url, '?shard=7');
  await app.loadSampleData();
  // The current model is kept for offline use as soon as the app has seen it.
  await app.waitUntilReadyOffline();

  await context.setOffline(true);
  await page.reload();
  await expect(page.locator('#task-name')).toContainText('Handwritten digits');
  await expect(page.getByTestId('example-total')).toHaveText('500');

  // The coordinator receives the first upload, but its answer never reaches the browser.
  let uploads = 0;
  await context.route('**/updates/**', async (route) => {
    uploads += 1;
    if (uploads > 1) return route.continue();
    await route.fetch();
    await route.abort('connectionreset');
  });

  await app.join();
  await expect.poll(() => app.outboxCount(), { timeout: 120_000 }).toBe(1);
  await expect(page.getByTestId('outbox')).toContainText('Update for round 1');
  expect(uploads).toBe(0);

  await context.setOffline(false);
  await expect.poll(() => app.outboxCount(), { timeout: 60_000 }).toBe(0);
  expect(uploads).toBeGreaterThanOrEqual(2);
  await expect(page.getByTestId('log')).toContainText('counted once');

  // The coordinator's own records: one update, from one client, in round 1.
  const round = (await coordinator.task()).round!;
  expect(round).toMatchObject({ id: 1, received: 1, assigned: 1 });
  await app.leave();

  // Nothing personal in the Cache Storage: the app's files and the global models only.
  const cached = Object.entries(await app.cachedUrls()).flatMap(([name, urls]) => urls.map((u) => `${name} ${u}`));
  for (const entry of cached) expect(entry).toMatch(/^(workbox-precache-v2-\S+ \/(index\.html|assets\/\S+|icon\S*|apple-touch-icon\.png|manifest\.webmanifest)|covey-models \/v1\/tasks\/digits\/models\/\d+\/(model\.json|weights\.bin))$/);
});

test('an update for a round that closed while it waited is refused with a reason and leaves the outbox', async ({ participant, coordinator }) => {
  const { app, context, page } = await participant({ expectedConsoleErrors: /ERR_INTERNET_DISCONNECTED|status of 409/ });
  await queueUpdateOffline(app, context, coordinator.url, '?shard=8');

  // Meanwhile two other clients finish round 1 (the round's target), so this update arrives too late.
  await closeRoundWithOtherClients(coordinator);
  await context.setOffline(false);
  await expect.poll(() => app.outboxCount(), { timeout: 60_000 }).toBe(0);
  await expect(page.getByTestId('log')).toContainText('not accepted');
  await expect(page.getByTestId('log')).toContainText('round 1 no longer takes updates');
  expect((await coordinator.history()).at(-1)).toMatchObject({ version: 1, numClients: 2 });
});

test('Background Sync delivers the outbox from the service worker, and the open page says so', async ({ participant, coordinator }) => {
  const { app, context, page, requests } = await participant({ expectedConsoleErrors: OFFLINE_ERRORS });
  await queueUpdateOffline(app, context, coordinator.url, '?shard=9');

  // The page's own uploads fail (page.route sees only the page's requests), so only the service worker can deliver.
  await page.route('**/updates/**', (route) => route.abort('internetdisconnected'));
  await context.setOffline(false);
  // Chromium fires the sync itself when the network returns — often before the page's own try has failed,
  // now that enrolling (a challenge signed with the client's key) comes first — unless a failed sync made it
  // back off for minutes: fire it now too (an empty outbox makes the second one a no-op).
  await app.fireBackgroundSync('covey-outbox');
  await expect.poll(() => app.outboxCount(), { timeout: 60_000 }).toBe(0);
  await expect(page.getByTestId('log')).toContainText('Round 1 (in the background): update delivered');
  expect((await coordinator.task()).round).toMatchObject({ id: 1, received: 1 });
  // The delivery is recorded as the service worker's, body and all, so the privacy audit reads its frame too.
  const delivered = requests.filter((r) => r.fromServiceWorker && r.method === 'PUT' && r.url.includes('/updates/'));
  expect(delivered.length).toBeGreaterThanOrEqual(1);
  for (const r of delivered) expect(r.body?.subarray(0, 4).toString('latin1')).toBe('CVYU');
});

/** A person visits once, goes offline, joins and leaves: one update made offline waits in the outbox. */
async function queueUpdateOffline(app: CoveyApp, context: BrowserContext, url: string, query: string): Promise<void> {
  await app.open(url, query);
  await app.loadSampleData();
  await app.waitUntilReadyOffline();
  await context.setOffline(true);
  await app.join();
  await expect.poll(() => app.outboxCount(), { timeout: 120_000 }).toBe(1);
  await app.leave();
}

async function closeRoundWithOtherClients(c: RunningCoordinator): Promise<void> {
  const { encodeUpdateFrame } = await import('../src/core/update-frame.ts');
  const { f32 } = await import('../src/core/codecs/f32.ts');
  const { parameterCount } = await c.task();
  for (const clientId of ['other-client-1', 'other-client-2']) {
    const auth = await authHeaders(c.url, clientId);
    await fetch(`${c.url}/v1/tasks/digits/checkin`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify({ clientId, exampleCount: 10 }) });
    const frame = encodeUpdateFrame(f32, { clientId, baseVersion: 0, numExamples: 10, loss: 1 }, new Float32Array(parameterCount));
    const res = await fetch(`${c.url}/v1/tasks/digits/rounds/1/updates/u-${clientId}`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', ...auth }, body: frame });
    expect(res.status).toBe(200);
  }
  await expect.poll(async () => (await c.task()).round!.id).toBe(2);
}
