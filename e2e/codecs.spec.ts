/**
 * Fewer bytes each way, as people use it: browsers on a task whose updates are int8 (and one on top-k with
 * error feedback) complete rounds; what they sent and received, as the app records it, is a fraction of the
 * float32 model; after the first round the model comes as a delta; the top-k residual survives a reload.
 */
import type { TrafficLedger } from '../src/client/traffic.ts';
import { codecFor } from '../src/core/codecs/index.ts';
import { decodeRecords } from '../src/core/example-records.ts';
import { digitsTaskWithCodec, QUICK_TRAINING } from './coordinator.ts';
import { expect, joinedPeople, test, type Participant } from './fixtures.ts';
import { auditRequests } from './privacy.ts';

const ledger = async (p: Participant) => (await p.app.setting('traffic:digits')) as TrafficLedger;

test.describe('int8', () => {
  // One epoch, no personal model: this is about bytes on the wire, and int8 must still learn (+30 points in two rounds).
  test.use({ coordinatorEnv: { COVEY_TASKS_DIR: digitsTaskWithCodec('int8', undefined, undefined, QUICK_TRAINING), COVEY_MIN_CLIENTS: '3', COVEY_TARGET_CLIENTS: '3', COVEY_ROUND_DEADLINE_S: '300' } });

  test('three browsers on int8 complete rounds, each sending a quarter of the bytes and receiving later models as deltas', async ({ participant, coordinator }) => {
    const people = await joinedPeople(participant, coordinator.url, [0, 1, 2]);
    await expect.poll(async () => (await coordinator.history()).filter((h) => h.accuracy !== null).length, { timeout: 5 * 60_000, intervals: [2_000] }).toBeGreaterThanOrEqual(3);
    // The second round's model reached every browser (as a delta) before they left.
    for (const p of people) await expect.poll(async () => (await ledger(p)).byVia.delta?.downloads ?? 0, { timeout: 2 * 60_000 }).toBeGreaterThanOrEqual(1);
    for (const p of people) await p.app.leave();

    const history = await coordinator.history();
    expect(history[2]!.accuracy!).toBeGreaterThan(history[0]!.accuracy! + 0.3);
    const { parameterCount } = await coordinator.task();
    const f32Bytes = parameterCount * 4;
    for (const [i, p] of people.entries()) {
      const l = await ledger(p);
      const sent = l.byCodec.int8!;
      const full = l.byVia.full!;
      const delta = l.byVia.delta!;
      console.log(`browser ${i}: ${sent.updates} int8 updates of ${Math.round(sent.sentBytes / sent.updates)} B (f32 would be ${f32Bytes} B and more); model whole ${full.receivedBytes} B, as ${delta.downloads} delta(s) of ${Math.round(delta.receivedBytes / delta.downloads)} B`);
      expect(sent.updates).toBeGreaterThanOrEqual(2);
      // One byte a parameter, a scale per 512, and the frame's metadata: under a third of f32's 4 bytes.
      expect(sent.sentBytes / sent.updates).toBeLessThan(f32Bytes / 3.5);
      expect(full.downloads).toBe(1);
      expect(delta.receivedBytes / delta.downloads).toBeLessThan(f32Bytes / 3.9);
      await expect(p.page.getByTestId('traffic')).toContainText('sent');
      await expect(p.page.getByTestId('traffic-detail')).toContainText('encoded as int8');
      await expect(p.page.getByTestId('traffic-detail')).toContainText('as a difference from the version this device had');
      // What really went out: int8 frames only, never an example; and the deltas were asked for.
      const shard = await (await fetch(`${coordinator.url}/datasets/digits/iid/0${i}.bin`)).arrayBuffer();
      const report = auditRequests(p.requests, parameterCount, decodeRecords(new Uint8Array(shard), 784).map((e) => e.pixels), codecFor('int8'));
      expect(report.uploads.length).toBeGreaterThanOrEqual(2);
      expect(report.uploads.every((u) => u.payloadBytes === parameterCount + 4 * Math.ceil(parameterCount / 512) + 4)).toBe(true);
      expect(p.requests.some((r) => /\/models\/\d+\/delta-from\/\d+\?lineage=/.test(r.url))).toBe(true);
    }
  });
});

test.describe('top-k', () => {
  test.use({ coordinatorEnv: { COVEY_TASKS_DIR: digitsTaskWithCodec('topk:0.01', undefined, undefined, QUICK_TRAINING), COVEY_MIN_CLIENTS: '1', COVEY_TARGET_CLIENTS: '1', COVEY_ROUND_DEADLINE_S: '300' } });

  test('a browser on topk:0.01 completes rounds with tiny uploads, and its residual survives a reload', async ({ participant, coordinator }) => {
    const [p] = await joinedPeople(participant, coordinator.url, [0]);
    await expect.poll(() => p.app.contributions(), { timeout: 3 * 60_000, intervals: [1_000] }).toBeGreaterThanOrEqual(1);
    await p.app.leave();
    const { parameterCount } = await coordinator.task();
    type Kept = { lineage: string; codec: string; values: { length: number; nonZero: number; sum: number } };
    const kept = (await p.app.setting('residual:digits')) as Kept;
    // What top-k did not send: all but about 1 % of the update.
    expect(kept).toMatchObject({ codec: 'topk:0.01', values: { length: parameterCount } });
    expect(kept.values.nonZero).toBeGreaterThan(0.9 * parameterCount);

    await p.page.reload();
    expect(await p.app.setting('residual:digits')).toEqual(kept);

    await p.app.join();
    await expect.poll(async () => (await ledger(p)).byCodec['topk:0.01']?.updates ?? 0, { timeout: 3 * 60_000, intervals: [1_000] }).toBeGreaterThanOrEqual(2);
    await p.app.leave();
    const after = (await p.app.setting('residual:digits')) as Kept;
    expect(after.values.sum).not.toBe(kept.values.sum);
    const sent = (await ledger(p)).byCodec['topk:0.01']!;
    console.log(`topk:0.01: ${sent.updates} updates of ${Math.round(sent.sentBytes / sent.updates)} B each; f32 would be ${parameterCount * 4} B`);
    expect(sent.sentBytes / sent.updates).toBeLessThan((parameterCount * 4) / 50);
    expect((await coordinator.history()).length).toBeGreaterThanOrEqual(3);
  });
});
