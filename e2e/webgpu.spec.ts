import { expect, test } from './fixtures.ts';
import { auditRequests } from './privacy.ts';
import { digitsTaskWithCodec, QUICK_TRAINING } from './coordinator.ts';

// WebGPU on SwiftShader trains slowly (minutes on a busy machine): a deadline the round cannot miss, and
// one epoch without a personal model, since these tests are about the backend, not about learning.
test.use({ coordinatorEnv: { COVEY_TASKS_DIR: digitsTaskWithCodec('f32', undefined, {}, QUICK_TRAINING), COVEY_MIN_CLIENTS: '1', COVEY_TARGET_CLIENTS: '1', COVEY_ROUND_DEADLINE_S: '600' } });

test('a browser with WebGPU trains a round on WebGPU when the page asks for it, with gradients that match the CPU backend\'s', async ({ participant, coordinator }) => {
  const p = await participant();
  await p.app.open(coordinator.url, '?shard=5&backend=webgpu');
  await p.app.loadSampleData();
  await p.app.join();
  expect(await p.app.backend()).toBe('webgpu');
  await expect(p.page.getByTestId('fallbacks')).toHaveText('');
  // Forced, so not probed; but its gradients on a reference CNN are still compared with the CPU backend's
  // (TF.js once shipped WebGPU kernels that returned zero gradients, issue #8590).
  await expect(p.page.getByTestId('backend')).toHaveAttribute('data-chosen-by', 'forced', { timeout: 60_000 });
  const choice = await p.page.getByTestId('backend-choice').textContent();
  const error = Number(/webgpu, gradients within ([\d.e+-]+) of the CPU's/.exec(choice ?? '')?.[1]);
  expect(error).toBeLessThan(1e-4);
  await expect.poll(() => p.app.contributions(), { timeout: 4 * 60_000, intervals: [2_000] }).toBeGreaterThanOrEqual(1);
  await p.app.leave();

  await expect.poll(async () => (await coordinator.history()).length).toBeGreaterThanOrEqual(2);
  const { parameterCount } = await coordinator.task();
  const { uploads } = auditRequests(p.requests, parameterCount, []);
  expect(uploads[0]!.meta.backend).toBe('webgpu');
});

test('left to choose, the trainer measures each backend on the task\'s model, trains on the fastest, and remembers it', async ({ participant, coordinator }) => {
  const p = await participant();
  await p.app.open(coordinator.url, '?shard=6', { probe: true });
  await p.app.loadSampleData();
  await p.app.join();
  // It starts on WebGPU, the first that works; the probe at the first round finds SwiftShader's WebGPU
  // several times slower than WebGL here (26 against 177 samples/s in `npm run bench`).
  await expect(p.page.getByTestId('backend')).toHaveAttribute('data-chosen-by', 'probe', { timeout: 2 * 60_000 });
  expect(await p.app.backend()).toBe('webgl');
  const choice = (await p.page.getByTestId('backend-choice').textContent())!;
  for (const b of ['webgpu', 'webgl', 'cpu']) expect(choice).toMatch(new RegExp(`${b} \\d+ samples/s`));
  await expect(p.page.getByTestId('fallbacks')).toContainText(/webgpu not used: slower here: \d+ samples\/s against webgl's \d+/);
  await expect.poll(() => p.app.contributions(), { timeout: 2 * 60_000, intervals: [1_000] }).toBeGreaterThanOrEqual(1);
  await p.app.leave();
  // Back after a reload: the choice is recalled from IndexedDB, with the numbers it was made on.
  await p.page.reload();
  await p.app.join();
  await expect(p.page.getByTestId('backend')).toHaveAttribute('data-chosen-by', 'remembered', { timeout: 60_000 });
  expect(await p.app.backend()).toBe('webgl');
  await expect(p.page.getByTestId('backend-choice')).toContainText(/^Fastest when this device was measured on/);
  await p.app.leave();
  const { parameterCount } = await coordinator.task();
  const { uploads } = auditRequests(p.requests, parameterCount, []);
  expect(uploads[0]!.meta.backend).toBe('webgl');
});
