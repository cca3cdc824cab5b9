/**
 * Central differential privacy as a person meets it: a browser on a DP task completes a round with its
 * update clipped on the device and sent alone (no loss, accuracy or counts); the app states the guarantee
 * with the model's ε and lists what left the device, field by field, as it was sent; the coordinator refuses
 * an update over the clip norm; and once another round would pass the task's budget, it stops and says so.
 */
import { f32 } from '../src/core/codecs/f32.ts';
import { decodeUpdateFrame, encodeUpdateFrame } from '../src/core/update-frame.ts';
import { authHeaders, digitsTaskWithCodec } from './coordinator.ts';
import { expect, joinedPeople, test } from './fixtures.ts';

// z = 0.5 at δ = 1e-5: one round at the sampling rate it will have (the one update of the one client seen:
// the refused sender below is not counted) is ε 10.73, a second would be 16.51, so maxEpsilon 12 allows one.
test.use({ coordinatorEnv: { COVEY_TASKS_DIR: digitsTaskWithCodec('f32', { mode: 'central', clipNorm: 1, noiseMultiplier: 0.5, delta: 1e-5, maxEpsilon: 12 }), COVEY_MIN_CLIENTS: '1', COVEY_TARGET_CLIENTS: '1', COVEY_ROUND_DEADLINE_S: '300' } });

test('a browser on a DP task trains a round, sees the guarantee and what it sent, and the task stops at its budget', async ({ participant, coordinator }) => {
  // An update over S is refused, naming why (sent first, while round 1 is open).
  const { round, parameterCount, modelVersion } = await coordinator.task();
  const auth = await authHeaders(coordinator.url, 'client-unclipped-1');
  const big = encodeUpdateFrame(f32, { clientId: 'client-unclipped-1', baseVersion: modelVersion }, new Float32Array(parameterCount).fill(0.1));
  const res = await fetch(`${coordinator.url}/v1/tasks/digits/rounds/${round!.id}/updates/unclipped-update-1`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', ...auth }, body: big });
  expect(res.status).toBe(400);
  expect(((await res.json()) as { error: { code: string } }).error.code).toBe('norm_over_clip');

  const [p] = await joinedPeople(participant, coordinator.url, [6]);
  await expect.poll(() => p.app.contributions(), { timeout: 3 * 60_000, intervals: [1_000] }).toBeGreaterThanOrEqual(1);
  await expect.poll(async () => (await coordinator.history()).length).toBeGreaterThanOrEqual(2);
  const version1 = (await coordinator.history())[1]!;
  expect(version1.privacy).toMatchObject({ delta: 1e-5, noiseMultiplier: 0.5, clipNorm: 1, samplingRate: 1, mode: 'central' });
  expect(version1.privacy!.epsilon).toBeCloseTo(10.73, 1);
  // Nothing of one person is published: no mean client loss, no federated evaluation.
  expect(version1).toMatchObject({ clientLoss: null, federated: null });

  // The browser's upload was clipped (its payload's norm is at most S, the bound the coordinator checks), and carried only what the protocol needs.
  const upload = p.requests.find((r) => r.method === 'PUT' && r.url.includes('/updates/'))!;
  const { payload, meta } = decodeUpdateFrame(new Uint8Array(upload.body!));
  expect(Math.hypot(...f32.decode(payload, payload.length / 4))).toBeLessThanOrEqual(1.0001);
  expect(Object.keys(meta as object).sort()).toEqual(['backend', 'baseVersion', 'clientId', 'lineage']);
  // The app lists that upload with those fields and values, as sent.
  await p.page.locator('#uploads-box > summary').click();
  const line = p.page.getByTestId('uploads').locator('li').first();
  await expect(line).toContainText(`Round ${round!.id}`);
  await expect(line).toContainText('accepted');
  for (const [k, v] of Object.entries(meta as Record<string, unknown>)) await expect(line).toContainText(`${k} = ${String(v)}`);

  // The budget: the task says it is spent on the page, in the summary, and to check-ins; uploads are refused.
  await expect(p.page.getByTestId('privacy')).toContainText(/every model of this task is \(ε = 10\.7\d, δ = 0\.00001\) differentially private/, { timeout: 15_000 });
  await expect(p.page.getByTestId('privacy')).toContainText('Its privacy budget (ε ≤ 12) is spent: it trains no more.');
  await expect(p.page.getByTestId('phase')).toContainText('privacy budget spent', { timeout: 30_000 });
  expect((await coordinator.task()).privacy).toMatchObject({ budgetSpent: true });
  const next = (await coordinator.task()).round!.id;
  const late = await fetch(`${coordinator.url}/v1/tasks/digits/rounds/${next}/updates/late-update-01`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', ...auth }, body: encodeUpdateFrame(f32, { clientId: 'client-unclipped-1', baseVersion: 1 }, new Float32Array(parameterCount)) });
  expect(((await late.json()) as { error: { code: string } }).error.code).toBe('privacy_budget_spent');
  await p.app.leave();
});
