/**
 * Buffered asynchronous aggregation as a person meets it: an update trained offline counts when it arrives,
 * with its staleness weight, although the federation published two versions meanwhile.
 */
import { authHeaders, type RunningCoordinator } from './coordinator.ts';
import { expect, OFFLINE_ERRORS, test } from './fixtures.ts';

// A version every 2 updates; updates up to 5 versions old are taken.
test.use({ coordinatorEnv: { COVEY_BUFFER_SIZE: '2', COVEY_MAX_STALENESS: '5' } });

test('an update trained offline while two versions were published counts at its staleness weight', async ({ participant, coordinator }) => {
  const { app, context, page } = await participant({ expectedConsoleErrors: OFFLINE_ERRORS });
  await app.open(coordinator.url, '?shard=7');
  await app.loadSampleData();
  await app.waitUntilReadyOffline();
  expect((await coordinator.task()).round).toMatchObject({ id: 1, baseVersion: 0, buffered: { size: 2, maxStaleness: 5 } });

  // Offline, the browser trains on v0 and its update waits in the outbox.
  await context.setOffline(true);
  await app.join();
  await expect.poll(() => app.outboxCount(), { timeout: 120_000 }).toBe(1);
  await app.leave();

  // Meanwhile four other people's updates make v1 and v2.
  await upload(coordinator, 'other-client-1', 0);
  await upload(coordinator, 'other-client-2', 0);
  await upload(coordinator, 'other-client-3', 1);
  await upload(coordinator, 'other-client-4', 1);
  await expect.poll(async () => (await coordinator.task()).modelVersion).toBe(2);

  // Back online: the update is two versions old, taken at 1/√3, into the buffer that makes v3.
  await context.setOffline(false);
  await expect.poll(() => app.outboxCount(), { timeout: 60_000 }).toBe(0);
  await expect(page.getByTestId('log')).toContainText('the model had moved 2 versions on since it was trained, so it counts at 0.58 of a fresh update');
  expect((await coordinator.task()).round).toMatchObject({ id: 3, baseVersion: 2, received: 1 });
  await page.locator('#uploads-box summary').click();
  await expect(page.getByTestId('uploads')).toContainText('accepted, 2 versions old, counted at 0.58');

  // One more fresh update completes the buffer; the coordinator's record of v3 shows the stale one.
  await upload(coordinator, 'other-client-5', 2);
  await expect.poll(async () => (await coordinator.history()).length).toBe(4);
  const v3 = (await coordinator.history()).find((h) => h.version === 3)!;
  expect(v3).toMatchObject({ numClients: 2, staleness: { mean: 1, max: 2 } });
  expect(v3.staleness!.meanWeight).toBeCloseTo((1 + 1 / Math.sqrt(3)) / 2, 6);
});

/** Another person's update (all zeros, 10 examples) trained on `baseVersion`. */
async function upload(c: RunningCoordinator, clientId: string, baseVersion: number): Promise<void> {
  const { encodeUpdateFrame } = await import('../src/core/update-frame.ts');
  const { f32 } = await import('../src/core/codecs/f32.ts');
  const { parameterCount } = await c.task();
  const auth = await authHeaders(c.url, clientId);
  const frame = encodeUpdateFrame(f32, { clientId, baseVersion, numExamples: 10, loss: 1 }, new Float32Array(parameterCount));
  const res = await fetch(`${c.url}/v1/tasks/digits/rounds/1/updates/u-${clientId}`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', ...auth }, body: frame });
  expect(res.status, await res.clone().text()).toBe(200);
}
