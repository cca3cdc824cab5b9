import 'fake-indexeddb/auto';
import { openDB } from 'idb';
import { describe, expect, it } from 'vitest';
import { CoveyStore, DB_VERSION, isHeldOut } from './store.ts';
import { indexedDbMemory } from '../worker/backend-memory.ts';

let n = 0;
const freshName = () => `covey-test-${n++}`;
const example = (label: number, taskId = 'digits') => ({ taskId, label, features: new Uint8Array(4).fill(label), source: 'drawn' as const, addedAt: 1 });
/** As version 1 and 2 stored them. */
const oldExample = (label: number, taskId = 'digits') => ({ taskId, label, pixels: new Uint8Array(4).fill(label), source: 'drawn' as const, addedAt: 1 });

describe('CoveyStore', () => {
  it('migrates a version-1 database to the current schema and keeps every example and its pixels', async () => {
    const name = freshName();
    // Version 1 as it shipped: examples with a by-task index, and settings.
    const v1 = await openDB(name, 1, {
      upgrade(db) {
        db.createObjectStore('examples', { keyPath: 'id', autoIncrement: true }).createIndex('by-task', 'taskId');
        db.createObjectStore('settings');
      },
    });
    for (const e of [oldExample(3), oldExample(3), oldExample(7), oldExample(1, 'other')]) await v1.add('examples', e);
    await v1.put('settings', 'c-kept-client-id', 'clientId');
    v1.close();

    const store = await CoveyStore.open(name);
    expect(DB_VERSION).toBe(3);
    expect(await store.count('digits')).toBe(3);
    expect(await store.countByLabel('digits', 10)).toEqual(new Map([[3, 2], [7, 1]]));
    expect(await store.clientId()).toBe('c-kept-client-id');
    const packed = await store.readPacked('digits', 4);
    expect([...packed.labels]).toEqual([3, 3, 7]);
    expect([...packed.features]).toEqual([3, 3, 3, 3, 3, 3, 3, 3, 7, 7, 7, 7]);
    expect(packed.skipped).toBe(0);
    expect(await store.outbox()).toEqual([]);
    store.close();
  });

  it('packs float features of tabular tasks as float32', async () => {
    const store = await CoveyStore.open(freshName());
    await store.add([{ ...example(1, 'fraud'), features: Float32Array.of(0.5, -1, 2, 0) }]);
    const packed = await store.readPacked('fraud', 4);
    expect(packed.features).toBeInstanceOf(Float32Array);
    expect([...packed.features]).toEqual([0.5, -1, 2, 0]);
    store.close();
  });

  it('keeps outbox items, oldest first, and skips records that are not outbox items', async () => {
    const store = await CoveyStore.open(freshName());
    const item = (id: string, createdAt: number) => ({ updateId: id, taskId: 'digits', roundId: 1, url: 'http://x/u/', frame: new ArrayBuffer(8), createdAt, attempts: 0, nextAttemptAt: 0 });
    await store.putOutbox(item('u-2', 20));
    await store.putOutbox(item('u-1', 10));
    expect((await store.outbox()).map((i) => i.updateId)).toEqual(['u-1', 'u-2']);
    await store.deleteOutbox('u-1');
    expect((await store.outbox()).map((i) => i.updateId)).toEqual(['u-2']);
    store.close();
  });

  it('skips examples whose stored shape is wrong instead of training on them', async () => {
    const store = await CoveyStore.open(freshName());
    await store.add([example(2), { ...example(5), features: new Uint8Array(3) }, { ...example(6), features: new Float32Array(4) }]);
    const packed = await store.readPacked('digits', 4);
    expect(packed.count).toBe(1);
    expect(packed.skipped).toBe(2);
    store.close();
  });

  it('gives two tabs opening at once the same client id', async () => {
    const name = freshName();
    const [a, b] = await Promise.all([CoveyStore.open(name), CoveyStore.open(name)]);
    const [idA, idB] = await Promise.all([a.clientId(), b.clientId()]);
    expect(idA).toMatch(/^c-/);
    expect(idB).toBe(idA);
    expect(await a.clientId()).toBe(idA);
    a.close();
    b.close();
  });

  it('deletes everything, client id included', async () => {
    const name = freshName();
    const store = await CoveyStore.open(name);
    await store.add([example(1)]);
    const id = await store.clientId();
    const backends = indexedDbMemory();
    await backends.remember('this device', { backend: 'webgl', measurements: [], measuredAt: Date.now(), probeMs: 1 });
    await store.deleteEverything();
    const again = await CoveyStore.open(name);
    expect(await again.count('digits')).toBe(0);
    expect(await backends.recall('this device')).toBeUndefined();
    expect(await again.clientId()).not.toBe(id);
    again.close();
  });

  it('makes one non-extractable key pair for the client and keeps it', async () => {
    const store = await CoveyStore.open(freshName());
    const [a, b] = await Promise.all([store.signingKey(), store.signingKey()]);
    const again = await store.signingKey();
    const spki = async (k: CryptoKeyPair) => new Uint8Array(await crypto.subtle.exportKey('spki', k.publicKey));
    expect(await spki(b)).toEqual(await spki(a));
    expect(await spki(again)).toEqual(await spki(a));
    expect(again.privateKey.extractable).toBe(false);
    await expect(crypto.subtle.exportKey('pkcs8', again.privateKey)).rejects.toThrow();
    // It still signs after the round trip through IndexedDB.
    const data = new TextEncoder().encode('hello');
    const sig = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, again.privateKey, data);
    expect(await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, a.publicKey, sig, data)).toBe(true);
  });

  it('holds about 15 % of the examples out of training, the same ones every time, and packs the parts apart', async () => {
    const share = Array.from({ length: 10_000 }, (_, i) => isHeldOut({ id: i + 1 })).filter(Boolean).length / 10_000;
    expect(share).toBeGreaterThan(0.14);
    expect(share).toBeLessThan(0.16);
    const store = await CoveyStore.open(freshName());
    await store.add(Array.from({ length: 200 }, (_, i) => example(i % 10)));
    const train = await store.readPacked('digits', 4, 'train');
    const heldOut = await store.readPacked('digits', 4, 'held-out');
    expect(train.count + heldOut.count).toBe(200);
    expect(heldOut.count).toBeGreaterThan(10);
    expect(await store.countTraining('digits')).toBe(train.count);
    const ids = (await store.readExamples('digits')).map((e) => e.id!);
    expect(ids.filter((id) => isHeldOut({ id })).length).toBe(heldOut.count);
  });
});
