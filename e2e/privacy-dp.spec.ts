/**
 * Central differential privacy as a person meets it: a browser on a DP task completes a round with its
 * update clipped on the device; the app states the guarantee with the model's ε; the coordinator refuses an
 * update over the clip norm; the history carries ε per version.
 */
import { f32 } from '../src/core/codecs/f32.ts';
import { decodeUpdateFrame, encodeUpdateFrame } from '../src/core/update-frame.ts';
import { authHeaders, digitsTaskWithCodec } from './coordinator.ts';
import { expect, joinedPeople, test } from './fixtures.ts';

test.use({ coordinatorEnv: { COVEY_TASKS_DIR: digitsTaskWithCodec('f32', { mode: 'central', clipNorm: 1, noiseMultiplier: 0.5, delta: 1e-5 }), COVEY_MIN_CLIENTS: '1', COVEY_TARGET_CLIENTS: '1', COVEY_ROUND_DEADLINE_S: '300' } });

test('a browser on a DP task trains a round, sees the guarantee, and an unclipped update is refused', async ({ participant, coordinator }) => {
  const [p] = await joinedPeople(participant, coordinator.url, [6]);
  await expect.poll(() => p.app.contributions(), { timeout: 3 * 60_000, intervals: [1_000] }).toBeGreaterThanOrEqual(1);
  await p.app.leave();
  await expect.poll(async () => (await coordinator.history()).length).toBeGreaterThanOrEqual(2);
  const version1 = (await coordinator.history())[1]!;
  expect(version1.privacy).toMatchObject({ delta: 1e-5, noiseMultiplier: 0.5, clipNorm: 1, samplingRate: 1 });
  expect(version1.privacy!.epsilon).toBeGreaterThan(0);
  // The app says what holds, with the current model's ε.
  await expect(p.page.getByTestId('privacy')).toContainText(/every model of this task is \(ε = \d+\.\d\d, δ = 0\.00001\) differentially private/, { timeout: 15_000 });
  // The browser's upload was clipped: its payload's norm is at most S (1), the bound the coordinator checks.
  const upload = p.requests.find((r) => r.method === 'PUT' && r.url.includes('/updates/'))!;
  const { payload } = decodeUpdateFrame(new Uint8Array(upload.body!));
  const delta = f32.decode(payload, payload.length / 4);
  expect(Math.hypot(...delta)).toBeLessThanOrEqual(1.0001);
  // An update over S is refused, naming why.
  const { round, parameterCount, modelVersion } = await coordinator.task();
  const auth = await authHeaders(coordinator.url, 'client-unclipped-1');
  const big = encodeUpdateFrame(f32, { clientId: 'client-unclipped-1', baseVersion: modelVersion, numExamples: 10, loss: 1 }, new Float32Array(parameterCount).fill(0.1));
  const res = await fetch(`${coordinator.url}/v1/tasks/digits/rounds/${round!.id}/updates/unclipped-update-1`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', ...auth }, body: big });
  expect(res.status).toBe(400);
  expect(((await res.json()) as { error: { code: string } }).error.code).toBe('norm_over_clip');
});
