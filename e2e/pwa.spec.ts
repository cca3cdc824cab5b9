import { chromium } from '@playwright/test';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, test } from './fixtures.ts';

test.describe('installable app', () => {
  test('the manifest and service worker pass Chromium’s installability checks', async ({ browserName, coordinator }, testInfo) => {
    expect(browserName).toBe('chromium');
    // Installability is not offered in incognito-like contexts: use a real profile.
    const profile = mkdtempSync(join(tmpdir(), 'covey-profile-'));
    const launch = testInfo.project.use.launchOptions ?? {};
    const context = await chromium.launchPersistentContext(profile, { executablePath: launch.executablePath, args: launch.args });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      await page.goto(coordinator.url);
      await page.evaluate(() => navigator.serviceWorker.ready);
      const cdp = await context.newCDPSession(page);
      await expect.poll(async () => (await cdp.send('Page.getInstallabilityErrors')).installabilityErrors, { timeout: 30_000 }).toEqual([]);

      const manifest = (await (await fetch(`${coordinator.url}/manifest.webmanifest`)).json()) as Record<string, unknown>;
      expect(manifest).toMatchObject({ name: expect.stringContaining('Covey'), short_name: 'Covey', display: 'standalone', start_url: '/', theme_color: '#1f5f4a' });
      const icons = manifest.icons as { sizes: string; purpose?: string; src: string }[];
      expect(icons.map((i) => `${i.sizes}${i.purpose ? ` ${i.purpose}` : ''}`)).toEqual(['192x192', '512x512', '512x512 maskable']);
      for (const icon of icons) expect((await fetch(coordinator.url + icon.src)).headers.get('content-type')).toBe('image/png');
    } finally {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });

  test('an Install button appears when the browser offers installation, and hands the choice to the browser', async ({ participant, coordinator }) => {
    const { page } = await participant();
    await page.goto(coordinator.url);
    const install = page.getByTestId('install');
    await expect(install).toBeHidden();

    // Headless Chromium never offers installation itself: hand the page the event a browser would fire.
    await page.evaluate(() => {
      const offer = Object.assign(new Event('beforeinstallprompt', { cancelable: true }), {
        prompt: async () => void ((window as { prompted?: number }).prompted = ((window as { prompted?: number }).prompted ?? 0) + 1),
        userChoice: Promise.resolve({ outcome: 'accepted', platform: 'web' }),
      });
      dispatchEvent(offer);
      (window as { offerDefaultPrevented?: boolean }).offerDefaultPrevented = offer.defaultPrevented;
    });
    // The page keeps the offer for its own button instead of the browser's mini-infobar.
    expect(await page.evaluate(() => (window as { offerDefaultPrevented?: boolean }).offerDefaultPrevented)).toBe(true);
    await expect(install).toBeVisible();
    await install.click();
    await expect(install).toBeHidden();
    expect(await page.evaluate(() => (window as { prompted?: number }).prompted)).toBe(1);
  });
});

test.describe('deployments', () => {
  // The coordinator serves a copy of the build, which the test then replaces with a second build.
  const appDir = join(tmpdir(), `covey-app-${process.pid}`);
  test.use({
    // Playwright reads a fixture's dependencies from its first parameter's pattern: this one has none.
    // eslint-disable-next-line no-empty-pattern
    coordinatorEnv: async ({}, use) => {
      cpSync('dist', appDir, { recursive: true });
      await use({ COVEY_APP_DIR: appDir });
      rmSync(appDir, { recursive: true, force: true });
    },
  });

  test('the first visit is controlled by the service worker it installs, without a reload, and its model is in the model cache', async ({ participant, coordinator }) => {
    const { app, page } = await participant();
    await app.open(coordinator.url);
    await page.evaluate(() => ((window as unknown as { firstDocument: boolean }).firstDocument = true));
    await expect.poll(() => page.evaluate(() => navigator.serviceWorker.controller !== null), { timeout: 60_000 }).toBe(true);
    expect(await page.evaluate(() => (window as unknown as { firstDocument?: boolean }).firstDocument)).toBe(true);
    const version = (await coordinator.task()).modelVersion;
    await expect.poll(async () => ((await app.setting('model:digits')) as { version?: number } | undefined)?.version).toBe(version);
    // Downloaded before or after the worker took control, the model is kept like any later visit's.
    await expect.poll(async () => (await app.cachedUrls())['covey-models'] ?? [], { timeout: 30_000 }).toEqual(expect.arrayContaining([`/v1/tasks/digits/models/${version}/model.json`, `/v1/tasks/digits/models/${version}/weights.bin`]));
  });

  test('a new deployment is offered, and the page reloads into it when the person asks', async ({ participant, coordinator }) => {
    const { app, page } = await participant();
    await app.open(coordinator.url);
    await app.waitForServiceWorker();
    const firstBuild = await page.getByTestId('build').textContent();

    // Deploy a second build under the running coordinator.
    const next = mkdtempSync(join(tmpdir(), 'covey-next-'));
    await promisify(execFile)('npx', ['vite', 'build', '--logLevel', 'warn'], { env: { ...process.env, COVEY_BUILD_ID: 'second-deployment', COVEY_OUT_DIR: next } });
    cpSync(next, appDir, { recursive: true });
    rmSync(next, { recursive: true, force: true });

    // The browser checks for a new service worker on navigation; the old code keeps running meanwhile.
    await page.evaluate(async () => (await navigator.serviceWorker.getRegistration())!.update());
    await expect(page.getByTestId('update-banner')).toBeVisible({ timeout: 60_000 });
    await expect(page.getByTestId('build')).toHaveText(firstBuild!);

    await page.getByTestId('update-reload').click();
    await expect(page.getByTestId('build')).toHaveText('build second-deployment', { timeout: 30_000 });
    await expect(page.getByTestId('update-banner')).toBeHidden();
  });
});

test.describe('interruptions', () => {
  test.use({ coordinatorEnv: { COVEY_MIN_CLIENTS: '1', COVEY_TARGET_CLIENTS: '2', COVEY_ROUND_DEADLINE_S: '600' } });

  test('a reload during training loses no examples, and the client checks in again and finishes the round', async ({ participant, coordinator }) => {
    const { app, page } = await participant();
    await app.open(coordinator.url, '?shard=9');
    await app.loadSampleData();
    await app.join();
    await expect.poll(() => page.getByTestId('progress').evaluate((p: HTMLProgressElement) => p.value), { timeout: 60_000 }).toBeGreaterThan(0);

    await page.reload();
    await expect(page.getByTestId('example-total')).toHaveText('500');
    // Joined before the reload, so joined after it: the interrupted round is trained again.
    await expect(page.getByTestId('join')).toHaveText('Leave');
    await expect.poll(() => app.contributions(), { timeout: 120_000 }).toBe(1);
    await app.leave();
    expect((await coordinator.task()).round).toMatchObject({ id: 1, assigned: 1, received: 1 });
  });
});
