/**
 * Secure aggregation with five browsers: one closes its tab right after sending its keys (before sharing
 * them), another right after sending its masked update. The round still completes with the four updates
 * that were sent, the new model moves by no more than the clip norm allows, and the coordinator's database
 * holds none of the masked updates it received (nor, so, any update). The exhaustive traffic audit runs on
 * every browser as on every federation test, with the protocol's messages on its closed list.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { digitsTaskWithCodec } from './coordinator.ts';
import { expect, joinedPeople, OFFLINE_ERRORS, test, type Participant } from './fixtures.ts';

const CLIP = 5;
test.use({
  coordinatorEnv: {
    COVEY_TASKS_DIR: digitsTaskWithCodec('f32', undefined, { secureAggregation: { threshold: 0.6, clipNorm: CLIP, phaseS: 15 } }),
    COVEY_MIN_CLIENTS: '3',
    COVEY_TARGET_CLIENTS: '5',
    COVEY_ROUND_DEADLINE_S: '400',
  },
});

/** Closes the person's tab (their whole browser context) when it is about to send `step`, which never leaves. */
function leaveBefore(p: Participant, step: string): Promise<void> {
  return new Promise((resolve) => {
    void p.context.route(`**/secagg/${step}`, async (route) => {
      await route.abort();
      await p.context.close();
      resolve();
    });
  });
}

test('five browsers aggregate securely while two of them leave mid-round', async ({ participant, coordinator }) => {
  test.setTimeout(9 * 60_000);
  // The two who leave see their last request fail as they go.
  const people = await joinedPeople((opts) => participant({ ...opts, expectedConsoleErrors: OFFLINE_ERRORS }), coordinator.url, [0, 1, 2, 3, 4]);
  const before = new Float32Array(await (await fetch(`${coordinator.url}/v1/tasks/digits/models/0/weights.bin`)).arrayBuffer());
  const leavers = [leaveBefore(people[4]!, 'shares'), leaveBefore(people[3]!, 'unmask')];

  await expect.poll(async () => (await coordinator.history()).length, { timeout: 7 * 60_000, intervals: [2_000] }).toBeGreaterThanOrEqual(2);
  await Promise.all(leavers);
  const v1 = (await coordinator.history())[1]!;
  // Keys from 5, shares from 4 (one left), masked updates from 4 (one more left after sending its own): 4 summed.
  expect(v1).toMatchObject({ numClients: 4, clientLoss: null, federated: null });
  for (const p of people.slice(0, 3)) await expect.poll(() => p.app.contributions(), { timeout: 30_000 }).toBeGreaterThanOrEqual(1);

  // The new model is the old one plus the mean of four updates clipped to S: it moved, by at most S.
  const after = new Float32Array(await (await fetch(`${coordinator.url}/v1/tasks/digits/models/1/weights.bin`)).arrayBuffer());
  const moved = Math.hypot(...after.map((w, i) => w - before[i]!));
  expect(moved).toBeGreaterThan(0);
  expect(moved).toBeLessThanOrEqual(CLIP * 1.0001);

  // What each browser sent: public keys, sealed shares, a masked vector and unmasking shares, never an update frame.
  const sent = people.flatMap((p) => p.requests);
  expect(sent.some((r) => r.method === 'PUT' && r.url.includes('/updates/'))).toBe(false);
  const masked = sent.filter((r) => r.method === 'PUT' && r.url.endsWith('/secagg/masked'));
  expect(masked).toHaveLength(4);
  // The coordinator kept none of them: not in its database, not in its write-ahead log.
  for (const file of ['covey.db', 'covey.db-wal'].map((f) => join(coordinator.dataDir, f)).filter(existsSync)) {
    const bytes = readFileSync(file);
    for (const m of masked) expect(bytes.indexOf(m.body!.subarray(1000, 1064)), `${file} holds a masked update`).toBe(-1);
  }
  // Nor do its logs, in any form a log line could carry bytes.
  const logs = coordinator.logs();
  for (const m of masked) {
    const slice = m.body!.subarray(1000, 1048);
    for (const form of [slice.toString('base64'), slice.toString('hex'), Array.from(new Uint32Array(slice.buffer.slice(slice.byteOffset, slice.byteOffset + 48))).join(',')]) expect(logs.includes(form), 'the logs hold a masked update').toBe(false);
  }
  for (const p of people.slice(0, 3)) await p.app.leave();
});
