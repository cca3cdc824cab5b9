import { expect, test } from './fixtures.ts';
import { auditRequests } from './privacy.ts';

// WebGPU on SwiftShader trains slowly (minutes on a busy machine): a deadline the round cannot miss.
test.use({ coordinatorEnv: { COVEY_MIN_CLIENTS: '1', COVEY_TARGET_CLIENTS: '1', COVEY_ROUND_DEADLINE_S: '600' } });

test('a browser with WebGPU trains a round on WebGPU', async ({ participant, coordinator }) => {
  const p = await participant();
  await p.app.open(coordinator.url, '?shard=5');
  await p.app.loadSampleData();
  await p.app.join();
  expect(await p.app.backend()).toBe('webgpu');
  await expect(p.page.getByTestId('fallbacks')).toHaveText('');
  await expect.poll(() => p.app.contributions(), { timeout: 4 * 60_000, intervals: [2_000] }).toBeGreaterThanOrEqual(1);
  await p.app.leave();

  await expect.poll(async () => (await coordinator.history()).length).toBeGreaterThanOrEqual(2);
  const { parameterCount } = await coordinator.task();
  const { uploads } = auditRequests(p.requests, parameterCount, []);
  expect(uploads[0]!.meta.backend).toBe('webgpu');
});
