import { digitsTaskWithCodec, QUICK_TRAINING } from './coordinator.ts';
import { expect, test } from './fixtures.ts';
import { auditRequests } from './privacy.ts';

// A task that leaves the batch to each device: "batchSize": "auto" (16–128).
test.use({ coordinatorEnv: { COVEY_TASKS_DIR: digitsTaskWithCodec('f32', undefined, {}, { ...QUICK_TRAINING, batchSize: 'auto' }), COVEY_MIN_CLIENTS: '1', COVEY_TARGET_CLIENTS: '1', COVEY_ROUND_DEADLINE_S: '300' } });

test('left to choose, a browser probes WebGL against the CPU; with "batchSize": "auto" it times the model at each batch up to its examples, trains with the one it chose, and remembers both', async ({ participant, coordinator }) => {
  expect((await coordinator.task()).config).toMatchObject({ batchSize: 32, batchRange: [16, 128] });
  const p = await participant();
  await p.app.open(coordinator.url, '?shard=3', { probe: true });
  await p.app.loadSampleData();
  await p.app.join();
  // This Chromium has no WebGPU: the probe measures WebGL against the CPU, and WebGL wins.
  await expect(p.page.getByTestId('backend')).toHaveAttribute('data-chosen-by', 'probe', { timeout: 2 * 60_000 });
  expect(await p.app.backend()).toBe('webgl');
  await expect(p.page.getByTestId('fallbacks')).toContainText('webgpu not used');
  await expect(p.page.getByTestId('fallbacks')).toContainText(/cpu not used: slower here: \d+ samples\/s against webgl's \d+/);
  const choice = p.page.getByTestId('backend-choice');
  // 425 examples to train on (500 less those held out): 16, 32, 64 and 128 are all timed.
  await expect(choice).toContainText(/Batch (16|32|64|128) of 16–128: the smallest whose epoch is within 10 % of the quickest \(samples\/s at each: 16: \d+, 32: \d+, 64: \d+, 128: \d+\)/, { timeout: 2 * 60_000 });
  await expect.poll(() => p.app.contributions(), { timeout: 2 * 60_000, intervals: [1_000] }).toBeGreaterThanOrEqual(1);
  await p.app.leave();
  await p.page.reload();
  await p.app.join();
  await expect(choice).toContainText(/Batch (16|32|64|128) of 16–128: the smallest whose epoch is within 10 % of the quickest when measured before/, { timeout: 60_000 });
  await expect(p.page.getByTestId('backend')).toHaveAttribute('data-chosen-by', 'remembered');
  await p.app.leave();
  const { parameterCount } = await coordinator.task();
  expect(auditRequests(p.requests, parameterCount, []).uploads.length).toBeGreaterThanOrEqual(1);
});
