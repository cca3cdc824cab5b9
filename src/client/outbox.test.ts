import 'fake-indexeddb/auto';
import { describe, expect, it, vi } from 'vitest';
import type { UploadAck } from '../core/protocol.ts';
import { ApiRequestError } from './coordinator-api.ts';
import { Outbox, type DeliveryEvent, type Uploader } from './outbox.ts';
import { CoveyStore } from './store.ts';
import { f32 } from '../core/codecs/f32.ts';
import { encodeUpdateFrame } from '../core/update-frame.ts';

let n = 0;
/** A private task's update: the delta and the fields a private client sends, nothing else. */
const META = { clientId: 'client-1', baseVersion: 0, backend: 'cpu', lineage: 'lin-1' };
const FRAME = encodeUpdateFrame(f32, META, new Float32Array([0.5, -0.25, 0.125]));
const ack = (duplicate = false): UploadAck => ({ status: 'accepted', duplicate, roundId: 1, received: 1 });

/** A coordinator stand-in that answers each upload from a script: an ack, or an error to throw. */
function scripted(answers: (UploadAck | Error)[]): Uploader & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async upload(_task, _url, updateId) {
      calls.push(updateId);
      const next = answers.shift();
      if (!next) throw new Error('no scripted answer left');
      if (next instanceof Error) throw next;
      return next;
    },
  };
}

async function setup(answers: (UploadAck | Error)[]) {
  const store = await CoveyStore.open(`outbox-test-${n++}`);
  const api = scripted(answers);
  let now = 1_000;
  const events: DeliveryEvent[] = [];
  const outbox = new Outbox(store, api, { now: () => now, random: () => 0.5, onEvent: (e) => events.push(e) });
  await outbox.enqueue({ updateId: 'u-1', taskId: 'digits', roundId: 1, url: 'http://c/u/', frame: FRAME.buffer, codec: 'f32', meta: META, payloadBytes: 12 });
  return { store, api, outbox, events, advance: (ms: number) => (now += ms) };
}

describe('Outbox', () => {
  it('keeps a record of what left the device: bytes, round, every field as sent, and how it was answered', async () => {
    const { outbox, store } = await setup([ack(), ack(true)]);
    await outbox.drain();
    await outbox.enqueue({ updateId: 'u-2', taskId: 'digits', roundId: 2, url: 'http://c/u/', frame: FRAME.slice().buffer, codec: 'f32', meta: META, payloadBytes: 12 });
    await outbox.drain();
    await outbox.enqueue({ updateId: 'u-3', taskId: 'digits', roundId: 3, url: 'http://c/u/', frame: FRAME.slice().buffer, codec: 'f32', meta: META, payloadBytes: 12 });
    const refusing = new Outbox(store, scripted([new ApiRequestError(400, 'norm_over_clip', 'update norm 3 exceeds this round’s bound 1')]), { now: () => 1_000 });
    await refusing.drain();
    const { uploads, sentBytes } = await store.traffic('digits');
    expect(uploads!.map((u) => [u.updateId, u.roundId, u.outcome])).toEqual([
      ['u-1', 1, 'accepted'],
      ['u-2', 2, 'repeat'],
      ['u-3', 3, expect.stringMatching(/^refused: update norm 3 exceeds/)],
    ]);
    expect(uploads![0]).toMatchObject({ codec: 'f32', bytes: FRAME.byteLength, payloadBytes: 12, meta: META });
    // A refused upload left the device too, but is not counted as sent for its round.
    expect(sentBytes).toBe(2 * FRAME.byteLength);
  });

  it('keeps an update across failed attempts and resends the same id until it is accepted', async () => {
    const lost = new ApiRequestError(undefined, 'network', 'connection reset');
    const { outbox, api, store, events, advance } = await setup([lost, ack(true)]);
    expect(await outbox.drain()).toMatchObject({ delivered: 0, waiting: 1, nextAttemptAt: 1_500 });
    expect((await store.outbox())[0]).toMatchObject({ attempts: 1, lastError: 'connection reset' });
    expect(await outbox.drain()).toMatchObject({ delivered: 0, waiting: 1 }); // not due yet: no call
    expect(api.calls).toEqual(['u-1']);
    advance(500);
    expect(await outbox.drain()).toMatchObject({ delivered: 1, waiting: 0 });
    expect(api.calls).toEqual(['u-1', 'u-1']);
    expect(events.at(-1)).toMatchObject({ type: 'delivered', duplicate: true });
    expect(await store.outbox()).toEqual([]);
  });

  it('tries a backing-off item at once when forced (the network came back)', async () => {
    const { outbox, api } = await setup([new ApiRequestError(undefined, 'network', 'offline'), ack()]);
    await outbox.drain();
    expect(await outbox.drain({ force: true })).toMatchObject({ delivered: 1 });
    expect(api.calls).toHaveLength(2);
  });

  it('drops an update the coordinator refuses for good, saying why', async () => {
    const { outbox, store, events } = await setup([new ApiRequestError(409, 'round_closed', 'round 1 no longer takes updates')]);
    expect(await outbox.drain()).toMatchObject({ rejected: 1, waiting: 0 });
    expect(await store.outbox()).toEqual([]);
    expect(events[0]).toMatchObject({ type: 'rejected', reason: /round 1 no longer takes updates/ });
  });

  it("says what happened without the update's bytes, so the service worker can post it to pages", async () => {
    const { outbox, events } = await setup([new ApiRequestError(undefined, 'network', 'offline'), ack()]);
    await outbox.drain();
    await outbox.drain({ force: true });
    expect(events.map((e) => e.type)).toEqual(['retrying', 'delivered']);
    for (const e of events) {
      expect(e.item).toMatchObject({ updateId: 'u-1', roundId: 1 });
      expect(e.item).not.toHaveProperty('frame');
      expect(() => structuredClone(e)).not.toThrow();
    }
  });

  it("sends only the items it owns: another coordinator's stay for their own outbox", async () => {
    const { outbox, store, api } = await setup([ack()]);
    await store.putOutbox({ updateId: 'u-other', taskId: 'digits', roundId: 1, url: 'http://other/u/', frame: new ArrayBuffer(16), createdAt: 0, attempts: 0, nextAttemptAt: 0 });
    const mine = new Outbox(store, api, { owns: (item) => item.url.startsWith('http://c/') });
    expect((await mine.pending()).map((i) => i.updateId)).toEqual(['u-1']);
    expect(await mine.drain()).toMatchObject({ delivered: 1, waiting: 0 });
    expect(api.calls).toEqual(['u-1']);
    expect((await outbox.pending()).map((i) => i.updateId)).toEqual(['u-other']);
  });

  it('schedules the next try of what still waits, without anyone draining it, until stopped', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const lost = new ApiRequestError(undefined, 'network', 'connection reset');
      const { outbox, api, store, advance } = await setup([lost, lost, ack()]);
      expect(await outbox.deliver()).toMatchObject({ waiting: 1 });
      advance(1_000);
      await vi.advanceTimersByTimeAsync(1_000); // the second try, scheduled by the first
      expect(api.calls).toHaveLength(2);
      outbox.stop();
      advance(60_000);
      await vi.advanceTimersByTimeAsync(60_000);
      expect(api.calls).toHaveLength(2); // stopped: no third try
      expect(await store.outbox()).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('does not try, or schedule, while the device is known to be offline: tries would count towards giving up', async () => {
    const { outbox, api } = await setup([ack()]);
    vi.stubGlobal('navigator', { onLine: false });
    try {
      expect(await outbox.deliver({ force: true })).toBeUndefined();
      expect(api.calls).toEqual([]);
    } finally {
      vi.unstubAllGlobals();
    }
    expect(await outbox.deliver({ force: true })).toMatchObject({ delivered: 1 });
  });
});
