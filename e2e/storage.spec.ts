import type { Page } from '@playwright/test';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from './fixtures.ts';

test('a person exports their examples, deletes them, and imports them back', async ({ participant, coordinator }, testInfo) => {
  const { app, page } = await participant();
  await app.open(coordinator.url, '?shard=2');
  await app.loadSampleData();
  await app.drawDigit(7);
  // The counts are read once they show the drawn digit too (under load they can lag a moment behind).
  await expect.poll(async () => (await Promise.all([...Array(10).keys()].map((d) => app.countOfLabel(d)))).reduce((a, b) => a + b, 0)).toBe(501);
  const before = await page.getByTestId('label-counts').textContent();
  await expect(page.getByTestId('storage-usage')).toContainText(/used of/);

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export').click()]);
  expect(download.suggestedFilename()).toBe('covey-digits-examples.json');
  const file = testInfo.outputPath('examples.json');
  await download.saveAs(file);
  const exported = JSON.parse(readFileSync(file, 'utf8')) as { format: string; examples: unknown[] };
  expect(exported).toMatchObject({ format: 'covey-examples', taskId: 'digits', featureCount: 784 });
  expect(exported.examples).toHaveLength(501);

  await app.deleteAllExamples();
  await page.getByTestId('import-file').setInputFiles(file);
  await expect(page.getByTestId('storage-message')).toHaveText('Imported 501 examples from examples.json.');
  await expect(page.getByTestId('example-total')).toHaveText('501');
  expect(await page.getByTestId('label-counts').textContent()).toBe(before);

  // A damaged file is refused whole, naming what is wrong, and nothing is added.
  const bad = join(testInfo.outputDir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ ...exported, examples: [...exported.examples.slice(0, 3), { label: 42, pixels: '' }] }));
  await page.getByTestId('import-file').setInputFiles(bad);
  await expect(page.getByTestId('storage-message')).toContainText('examples[3].label: must be at most 9');
  await expect(page.getByTestId('example-total')).toHaveText('501');
});

test('deleting everything removes the examples, the client id and the cached models', async ({ participant, coordinator }) => {
  const { app, page } = await participant();
  await app.open(coordinator.url, '?shard=3');
  await app.loadSampleData();
  await app.waitUntilReadyOffline();
  // Joining gives this browser its client id.
  await app.join();
  await expect.poll(() => readClientId(page)).toMatch(/^c-/);
  await app.leave();

  page.once('dialog', (d) => void d.accept());
  await page.getByTestId('delete-everything').click();
  await expect(page.getByTestId('storage-message')).toHaveText('Everything Covey stored in this browser is deleted.');
  await expect(page.getByTestId('example-total')).toHaveText('0');
  expect((await app.cachedUrls())['covey-models']).toBeUndefined();
  expect(await readClientId(page)).toBeUndefined();
  expect(await app.setting('model:digits')).toBeUndefined();
});

test('a full disk is a clear message, and nothing is half-stored', async ({ participant, coordinator }) => {
  const { app, page, context } = await participant();
  const cdp = await context.newCDPSession(page);
  const origin = new URL(coordinator.url).origin;
  // 500 digits need about 400 kB; allow this origin far less. Chromium reads the quota when the database
  // opens, so set it before the app loads.
  await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: 150_000 });
  await app.open(coordinator.url, '?shard=4');
  await page.getByTestId('load-sample').click();
  await expect(page.getByTestId('data-message')).toContainText('no room left');
  await expect(page.getByTestId('example-total')).toHaveText('0');

  await cdp.send('Storage.overrideQuotaForOrigin', { origin });
  await page.reload();
  expect(await app.loadSampleData()).toBe(500);
});

function readClientId(page: Page): Promise<unknown> {
  return page.evaluate(
    () =>
      new Promise<unknown>((resolve) => {
        indexedDB.open('covey').onsuccess = (e) => {
          const db = (e.target as IDBOpenDBRequest).result;
          const request = db.transaction('settings').objectStore('settings').get('clientId');
          request.onsuccess = () => {
            resolve(request.result);
            db.close();
          };
        };
      }),
  );
}
