/**
 * Secure aggregation with five browsers: one closes its tab right after sending its keys (before sharing
 * them), another right after sending its masked update (before unmasking). The round still completes with
 * the four masked updates that were sent, and the new model is the old one plus the mean of those four
 * browsers' clipped, quantized updates, to the bit: the test reads each browser's update as the trainer
 * worker hands it to the page (an init script listens to the worker's messages; nothing in the app exposes
 * it) and clips it with the same code. The coordinator's database and logs hold none of the masked updates
 * it received. The exhaustive traffic audit runs on every browser, the protocol's messages on its closed list.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { clipToNorm } from '../src/core/privacy/clip.ts';
import { addInto, dequantize, quantizationScale, quantize } from '../src/core/secagg/quantize.ts';
import { applyDelta } from '../src/core/vector.ts';
import { asWeights } from '../src/core/ids.ts';
import { maxAssignments } from '../src/coordinator/round-machine.ts';
import { digitsTaskWithCodec, QUICK_TRAINING } from './coordinator.ts';
import { expect, OFFLINE_ERRORS, test, type Participant } from './fixtures.ts';

const CLIP = 5;
test.use({
  coordinatorEnv: {
    COVEY_TASKS_DIR: digitsTaskWithCodec('f32', undefined, { secureAggregation: { threshold: 0.6, clipNorm: CLIP, phaseS: 15 } }, QUICK_TRAINING),
    COVEY_MIN_CLIENTS: '3',
    COVEY_TARGET_CLIENTS: '5',
    COVEY_ROUND_DEADLINE_S: '400',
  },
});

/** Each browser's first trained update, as its trainer worker handed it to the page. */
const updates = new Map<Participant, Float32Array>();
async function readUpdate(p: Participant): Promise<void> {
  const values = await p.page.evaluate(() => (window as unknown as { __coveyTrained?: number[][] }).__coveyTrained?.[0] ?? null);
  if (values) updates.set(p, Float32Array.from(values));
}

/** Closes the person's tab (their whole browser context) when it is about to send `step`, which never leaves. */
function leaveBefore(p: Participant, step: string): Promise<void> {
  return new Promise((resolve) => {
    void p.context.route(`**/secagg/${step}`, async (route) => {
      await route.abort();
      await readUpdate(p);
      await p.context.close();
      resolve();
    });
  });
}

test('five browsers aggregate securely while two of them leave mid-round', async ({ participant, coordinator }) => {
  test.setTimeout(9 * 60_000);
  // The two who leave see their last request fail as they go.
  const people: Participant[] = [];
  for (const shard of [0, 1, 2, 3, 4]) {
    const p = await participant({ expectedConsoleErrors: OFFLINE_ERRORS });
    await p.context.addInitScript(() => {
      // The test's own listener on the trainer's messages: it keeps a copy of each trained update.
      const trained: number[][] = [];
      (window as unknown as { __coveyTrained: number[][] }).__coveyTrained = trained;
      const Native = window.Worker;
      window.Worker = class extends Native {
        constructor(url: string | URL, options?: WorkerOptions) {
          super(url, options);
          this.addEventListener('message', (e: MessageEvent<{ type?: string; delta?: ArrayBuffer }>) => {
            if (e.data?.type === 'trained' && e.data.delta) trained.push(Array.from(new Float32Array(e.data.delta)));
          });
        }
      };
    });
    await p.app.open(coordinator.url, `?shard=${shard}`);
    expect(await p.app.loadSampleData()).toBe(500);
    people.push(p);
  }
  for (const p of people) await p.app.join();
  const before = new Float32Array(await (await fetch(`${coordinator.url}/v1/tasks/digits/models/0/weights.bin`)).arrayBuffer());
  const leavers = [leaveBefore(people[4]!, 'shares'), leaveBefore(people[3]!, 'unmask')];

  await expect.poll(async () => (await coordinator.history()).length, { timeout: 7 * 60_000, intervals: [2_000] }).toBeGreaterThanOrEqual(2);
  await Promise.all(leavers);
  const v1 = (await coordinator.history())[1]!;
  // Keys from 5, shares from 4 (one left), masked updates from 4 (one more left after sending its own): 4 summed.
  expect(v1).toMatchObject({ numClients: 4, clientLoss: null, federated: null });
  // Every browser here has X25519 (Chromium ≥ 133), so the round agreed on it rather than P-256.
  const keys = people[0]!.requests.find((r) => r.url.endsWith('/secagg/keys'))!;
  expect((JSON.parse(keys.body!.toString()) as { keys: { curve: string }[] }).keys.map((k) => k.curve).sort()).toEqual(['P-256', 'X25519']);
  for (const p of people.slice(0, 3)) await expect.poll(() => p.app.contributions(), { timeout: 30_000 }).toBeGreaterThanOrEqual(1);

  // The new model is, to the bit, the old one plus the mean of the four survivors' clipped updates as
  // quantized in Z_(2^32): computed here from the browsers' own updates, the coordinator's arithmetic replayed.
  for (const p of people.slice(0, 3)) await readUpdate(p);
  const survivors = people.slice(0, 4).map((p) => updates.get(p));
  expect(survivors.every((u) => u !== undefined)).toBe(true);
  const scale = quantizationScale(CLIP, maxAssignments(5));
  const sum = new Uint32Array(before.length);
  for (const u of survivors) addInto(sum, quantize(clipToNorm(u!, CLIP).values, CLIP, scale, () => 0.5));
  const expected = applyDelta(asWeights(before), dequantize(sum, scale).map((v) => v / 4));
  const after = new Float32Array(await (await fetch(`${coordinator.url}/v1/tasks/digits/models/1/weights.bin`)).arrayBuffer());
  const differing = after.reduce((n, w, i) => n + (Object.is(w, expected[i]) ? 0 : 1), 0);
  expect(differing, 'parameters of the new model that differ from the survivors\' quantized mean').toBe(0);

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

test.describe('below the threshold', () => {
  test.use({
    coordinatorEnv: {
      COVEY_TASKS_DIR: digitsTaskWithCodec('f32', undefined, { secureAggregation: { threshold: 0.6, clipNorm: CLIP, phaseS: 10 } }, QUICK_TRAINING),
      COVEY_MIN_CLIENTS: '3',
      COVEY_TARGET_CLIENTS: '3',
      COVEY_ROUND_DEADLINE_S: '400',
    },
  });

  test('a secure round left with fewer than its minimum aborts, and the model stays', async ({ participant, coordinator }) => {
    const people: Participant[] = [];
    for (const shard of [5, 6, 7]) {
      const p = await participant({ expectedConsoleErrors: OFFLINE_ERRORS });
      await p.app.open(coordinator.url, `?shard=${shard}`);
      expect(await p.app.loadSampleData()).toBe(500);
      people.push(p);
    }
    for (const p of people) await p.app.join();
    const firstRound = (await coordinator.task()).round!.id;
    // One of the three leaves before sending its masked update: the masked phase closes with 2 of a minimum of 3.
    await leaveBefore(people[2]!, 'masked');
    await expect.poll(async () => (await coordinator.task()).round!.id, { timeout: 2 * 60_000, intervals: [1_000] }).toBeGreaterThan(firstRound);
    expect((await coordinator.task()).modelVersion).toBe(0);
    expect(await coordinator.history()).toHaveLength(1);
    // The two who stayed were told, and count no contribution.
    for (const p of people.slice(0, 2)) expect(await p.app.contributions()).toBe(0);
    for (const p of people.slice(0, 2)) await p.app.leave();
  });
});
