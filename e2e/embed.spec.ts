import type { Page } from '@playwright/test';
import { digitsTaskWithCodec, QUICK_TRAINING } from './coordinator.ts';
import { serveStatic, type StaticSite } from './static-site.ts';
import { expect, test, type Participant } from './fixtures.ts';

/**
 * The example site from examples/embed, on its own origin; a second copy on an origin nobody allowed.
 * (Playwright reads a fixture's dependencies from its first parameter's pattern: these have none.)
 */
/* eslint-disable no-empty-pattern */
const it = test.extend<{ site: StaticSite; strangerSite: StaticSite }>({
  site: async ({}, use) => {
    const site = await serveStatic('examples/embed');
    await use(site);
    await site.close();
  },
  strangerSite: async ({}, use) => {
    const site = await serveStatic('examples/embed');
    await use(site);
    await site.close();
  },
  /* eslint-enable no-empty-pattern */
  coordinatorEnv: async ({ site }, use) => {
    // One epoch, no personal model: this is about embedding, not learning.
    await use({ COVEY_TASKS_DIR: digitsTaskWithCodec('f32', undefined, undefined, QUICK_TRAINING), COVEY_ALLOWED_ORIGINS: site.origin, COVEY_MIN_CLIENTS: '3', COVEY_TARGET_CLIENTS: '3', COVEY_ROUND_DEADLINE_S: '300' });
  },
});

it('a site on another origin embeds the SDK and trains in the same round as PWA clients', async ({ participant, coordinator, site }) => {
  const { host, pwa } = await embeddedWithTwoPwa(participant, coordinator.url, site.origin);

  await expect(host.page.locator('#backend')).toHaveText('webgl', { timeout: 60_000 });
  await expect(host.page.locator('#contributions')).toHaveText('1', { timeout: 180_000 });
  // The SDK's traffic events: the whole model received, and one f32 update (4 bytes a parameter and its frame) sent.
  const { parameterCount } = await coordinator.task();
  await expect.poll(async () => Number(await host.page.locator('#sent').textContent())).toBeGreaterThan(parameterCount * 4);
  expect(Number(await host.page.locator('#received').textContent())).toBeGreaterThan(parameterCount * 4);
  await expect.poll(async () => (await coordinator.history())[1]?.numClients, { timeout: 60_000 }).toBe(3);
  await host.page.locator('#leave').click();
  for (const p of pwa) await p.app.leave();

  // The trainer ran from the coordinator's script, started through a Blob URL on the host's origin.
  expect(host.requests.some((r) => r.url === `${coordinator.url}/sdk/trainer.worker.js`)).toBe(true);
  // The examples are in the host site's IndexedDB, and not in the coordinator origin's for this person.
  expect(await countExamples(host.page)).toBe(500);
  const sameBrowserAtCoordinator = await host.context.newPage();
  await sameBrowserAtCoordinator.goto(`${coordinator.url}/healthz`);
  expect(await countExamples(sameBrowserAtCoordinator)).toBe(0);
});

it('a site whose origin the task does not allow is refused with a clear error', async ({ participant, coordinator, strangerSite }) => {
  const { page } = await participant({ expectedConsoleErrors: /status of 403|CORS policy|net::ERR_FAILED/ });
  await page.goto(`${strangerSite.origin}/?coordinator=${encodeURIComponent(coordinator.url)}`);
  await expect(page.locator('#error')).toContainText('origin_not_allowed');
  await expect(page.locator('#status')).toHaveText('Not connected.');
  // Preflights from it get no CORS headers, so its browser will not send the request.
  const preflight = await fetch(`${coordinator.url}/v1/tasks/digits/checkin`, {
    method: 'OPTIONS',
    headers: { origin: strangerSite.origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
  });
  expect(preflight.status).toBe(403);
  expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
});

it.describe('a task that aggregates securely', () => {
  it.use({
    coordinatorEnv: async ({ site }, use) => {
      await use({ COVEY_TASKS_DIR: digitsTaskWithCodec('f32', undefined, { secureAggregation: { threshold: 0.6, clipNorm: 5, phaseS: 15 } }, QUICK_TRAINING), COVEY_ALLOWED_ORIGINS: site.origin, COVEY_MIN_CLIENTS: '3', COVEY_TARGET_CLIENTS: '3', COVEY_ROUND_DEADLINE_S: '300' });
    },
  });

  it('the embedded SDK takes part in a secure round with two PWA clients, and lists its masked upload', async ({ participant, coordinator, site }) => {
    const { host, pwa } = await embeddedWithTwoPwa(participant, coordinator.url, site.origin);
    await expect(host.page.locator('#contributions')).toHaveText('1', { timeout: 180_000 });
    await expect.poll(async () => (await coordinator.history())[1]?.numClients, { timeout: 60_000 }).toBe(3);
    // The SDK's upload record: the masked vector, one word per parameter, in the sum of three.
    const { parameterCount } = await coordinator.task();
    await expect(host.page.locator('#uploads li').first()).toContainText(`${parameterCount * 4} bytes (secagg), in the sum of 3`);
    // Its update left only masked: no plain update frame from any of them.
    expect([host, ...pwa].flatMap((p) => p.requests).some((r) => r.url.includes('/updates/'))).toBe(false);
    await host.page.locator('#leave').click();
    for (const p of pwa) await p.app.leave();
  });
});

/** The example site on shard 4 with its 500 digits, and two PWA clients on shards 5 and 6, all joined. */
async function embeddedWithTwoPwa(participant: () => Promise<Participant>, coordinatorUrl: string, siteOrigin: string): Promise<{ host: Participant; pwa: Participant[] }> {
  const host = await participant();
  await host.page.goto(`${siteOrigin}/?coordinator=${encodeURIComponent(coordinatorUrl)}&shard=4`);
  await expect(host.page.locator('#status')).toContainText('Connected to "Handwritten digits"');
  await host.page.locator('#add').click();
  await expect(host.page.locator('#count')).toHaveText('500');
  const pwa: Participant[] = [];
  for (const shard of [5, 6]) {
    const p = await participant();
    await p.app.open(coordinatorUrl, `?shard=${shard}`);
    await p.app.loadSampleData();
    pwa.push(p);
  }
  await host.page.locator('#join').click();
  for (const p of pwa) await p.app.join();
  return { host, pwa };
}

function countExamples(page: Page): Promise<number> {
  return page.evaluate(
    () =>
      new Promise<number>((resolve) => {
        const request = indexedDB.open('covey');
        request.onupgradeneeded = () => request.transaction!.abort(); // no database here: count 0
        request.onerror = () => resolve(0);
        request.onsuccess = () => {
          const db = request.result;
          if (!db.objectStoreNames.contains('examples')) return resolve(0);
          const count = db.transaction('examples').objectStore('examples').count();
          count.onsuccess = () => resolve(count.result);
        };
      }),
  );
}
