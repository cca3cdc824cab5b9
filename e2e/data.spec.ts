import { expect, test } from './fixtures.ts';


test('drawing a digit shows what the shared model predicts, with its top probabilities', async ({ participant, coordinator }) => {
  const { app, page } = await participant();
  await app.open(coordinator.url);
  await expect(page.getByTestId('model-version')).toHaveText('v0');
  await app.sketchDigit(1);
  await expect(page.getByTestId('prediction')).toHaveText(/^The shared model \(v0\) sees \d \(\d+ %\), \d \(\d+ %\), \d \(\d+ %\)$/, { timeout: 30_000 });
  await page.getByRole('button', { name: 'Clear drawing' }).click();
  await expect(page.getByTestId('prediction')).toHaveText('');
});

test('a person draws and labels digits, keeps them across a reload, and deletes them', async ({ participant, coordinator }) => {
  const { app, page } = await participant();
  await app.open(coordinator.url);
  await expect(page.getByTestId('example-total')).toHaveText('0');

  await app.drawDigit(7);
  await app.drawDigit(7);
  await app.drawDigit(1);
  await expect(page.getByTestId('example-total')).toHaveText('3');
  expect(await app.countOfLabel(7)).toBe(2);
  expect(await app.countOfLabel(1)).toBe(1);

  await page.reload();
  await expect(page.getByTestId('example-total')).toHaveText('3');

  await app.deleteAllExamples();
  expect(await app.countOfLabel(7)).toBe(0);
});

test('sample data comes from the shard the URL names, IID or non-IID', async ({ participant, coordinator }) => {
  const { app, page } = await participant();
  await app.open(coordinator.url, '?shard=4&partition=noniid');
  await app.loadSampleData();
  const message = await page.locator('#data-message').textContent();
  expect(message).toMatch(/noniid shard 4, labels \d(, \d)?\)/);
  const nonEmpty = await page.locator('[data-testid=label-counts] li b').evaluateAll((els) => els.filter((e) => e.textContent !== '0').length);
  expect(nonEmpty).toBeLessThanOrEqual(2);
});

test('joining without examples asks for some first', async ({ participant, coordinator }) => {
  const { app, page } = await participant();
  await app.open(coordinator.url);
  await page.getByTestId('join').click();
  await expect(page.getByTestId('phase')).toContainText('Add some examples first');
  await expect(page.getByTestId('join')).toHaveText('Join');
});
