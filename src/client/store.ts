/**
 * Everything Covey keeps in this browser, in the IndexedDB database `covey`: the person's labelled examples
 * per task, updates waiting to be delivered (the outbox), and small settings (client id, the last task
 * summary for offline use, whether the person has joined). The only module that imports `idb` for the
 * person's data (the trainer keeps its backend choices in its own database, worker/backend-memory.ts).
 * Everything read back is checked, since IndexedDB is another boundary.
 */
import { deleteDB, openDB, type DBSchema, type IDBPDatabase, type IDBPObjectStore, type IDBPTransaction, type StoreNames } from 'idb';
import { BACKEND_DB } from '../worker/protocol.ts';
import { isSigningKey, makeSigningKey } from './client-key.ts';
import { emptyLedger, isTrafficLedger, type TrafficLedger } from './traffic.ts';

export type ExampleSource = 'drawn' | 'sample' | 'imported';

/** A personal model: the weights fine-tuned from global version `baseVersion` of `lineage`, and how both did on the person's held-out examples. */
export interface PersonalModel {
  lineage: string;
  baseVersion: number;
  weights: Float32Array;
  /** Accuracy on the held-out examples: the personal model's, and the shared model's it started from; null without held-out examples. */
  accuracy: number | null;
  globalAccuracy: number | null;
  heldOut: number;
  createdAt: number;
}

function isPersonalModel(v: unknown): v is PersonalModel {
  if (typeof v !== 'object' || v === null) return false;
  const m = v as Partial<PersonalModel>;
  return typeof m.lineage === 'string' && typeof m.baseVersion === 'number' && m.weights instanceof Float32Array;
}

/**
 * Error feedback's residual for a task (core/error-feedback.ts): what the codec left out of the updates sent so
 * far, to add to the next one. Learnt from the person's examples, so it is kept and deleted with them, and
 * it belongs to one lineage and codec.
 */
export interface Residual {
  lineage: string;
  codec: string;
  values: Float32Array;
}

const isResidual = (v: unknown): v is Residual =>
  typeof v === 'object' && v !== null && typeof (v as Residual).lineage === 'string' && typeof (v as Residual).codec === 'string' && (v as Residual).values instanceof Float32Array;

const residualKey = (taskId: string) => `residual:${taskId}`;

/** Which examples: those trained on, those held out for federated evaluation, or all. */
export type ExamplePart = 'train' | 'held-out' | 'all';

/**
 * Federated evaluation's held-out part: about 15 % of a person's examples, chosen by a fixed hash of each
 * example's key, so an example is held out (never trained on) or not for as long as it is stored, and the
 * choice needs no field of its own (examples stored before it existed are split the same way).
 */
export function isHeldOut(e: { id?: number }): boolean {
  return e.id !== undefined && Math.imul(e.id, 2654435761) >>> 0 < 0.15 * 2 ** 32;
}

/** Features as stored: uint8 intensities for image tasks, encoded floats for tabular ones (core/features.ts). */
export type Features = Uint8Array | Float32Array;

export interface StoredExample {
  id?: number;
  taskId: string;
  label: number;
  features: Features;
  source: ExampleSource;
  addedAt: number;
}

/** An update waiting for delivery. Stays until the coordinator accepts it or refuses it for good. */
export interface OutboxItem {
  /** Made before the first try: the coordinator counts an id once, however often it arrives. */
  updateId: string;
  taskId: string;
  roundId: number;
  /** Absolute URL to PUT the frame to. */
  url: string;
  frame: ArrayBuffer;
  /** The codec the frame's payload is in (for what-left-the-device accounting); absent in items made before it was kept. */
  codec?: string;
  /** The metadata the frame carries, field by field, and its payload's size: what left the device, as the person may read it. */
  meta?: Record<string, unknown>;
  payloadBytes?: number;
  createdAt: number;
  attempts: number;
  /** Epoch ms before which no new attempt is made. */
  nextAttemptAt: number;
  lastError?: string;
}

interface CoveySchema extends DBSchema {
  examples: { key: number; value: StoredExample; indexes: { 'by-task': string; 'by-task-label': [string, number] } };
  settings: { key: string; value: unknown };
  outbox: { key: string; value: OutboxItem };
}

export const DB_NAME = 'covey';
export const DB_VERSION = 3;

/** Examples of one task, packed for the trainer: `count × featureCount` features and `count` labels. */
export interface PackedExamples {
  features: Features;
  labels: Uint8Array;
  count: number;
}

/** The browser refused to store more: the write was rolled back and the store is as it was. */
export class StorageFullError extends Error {
  override readonly name = 'StorageFullError';
}

export class CoveyStore {
  private constructor(
    private readonly db: IDBPDatabase<CoveySchema>,
    readonly name: string,
  ) {}

  static async open(name = DB_NAME): Promise<CoveyStore> {
    const db = await openDB<CoveySchema>(name, DB_VERSION, {
      upgrade(db, oldVersion, _newVersion, tx) {
        // Cumulative migrations: each step takes the schema from its version to the next, keeping data.
        if (oldVersion < 1) {
          db.createObjectStore('examples', { keyPath: 'id', autoIncrement: true }).createIndex('by-task', 'taskId');
          db.createObjectStore('settings');
        }
        if (oldVersion < 2) {
          // v2: the outbox, and per-label counting without reading every example.
          db.createObjectStore('outbox', { keyPath: 'updateId' });
          tx.objectStore('examples').createIndex('by-task-label', ['taskId', 'label']);
        }
        if (oldVersion < 3) {
          // v3: examples hold `features` (uint8 or float32) instead of `pixels` (uint8 only), for tabular tasks.
          void renamePixelsToFeatures(tx.objectStore('examples'));
        }
      },
      blocking() {
        // A newer version of the app wants to upgrade the schema in another tab: let it.
        db.close();
      },
    });
    return new CoveyStore(db, name);
  }

  close(): void {
    this.db.close();
  }

  async add(examples: readonly Omit<StoredExample, 'id'>[]): Promise<void> {
    const tx = this.db.transaction('examples', 'readwrite');
    try {
      await Promise.all([...examples.map((e) => tx.store.add(e as StoredExample)), tx.done]);
    } catch (e) {
      // The transaction aborted as a whole: none of the examples was stored.
      if (isQuotaError(e)) throw new StorageFullError('This browser has no room left for Covey’s data. Nothing was added; delete some examples or free space, then try again.');
      throw e;
    }
  }

  async count(taskId: string): Promise<number> {
    return this.db.countFromIndex('examples', 'by-task', taskId);
  }

  /** How many examples of each label the person holds, counted by the index. */
  async countByLabel(taskId: string, labels: number): Promise<Map<number, number>> {
    const counts = new Map<number, number>();
    const tx = this.db.transaction('examples');
    const index = tx.store.index('by-task-label');
    await Promise.all(
      Array.from({ length: labels }, async (_, label) => {
        const n = await index.count(IDBKeyRange.only([taskId, label]));
        if (n > 0) counts.set(label, n);
      }),
    );
    return counts;
  }

  /**
   * Every valid example of the task, packed; records that fail the checks (wrong length, or another dtype
   * than the first example's) are skipped and counted.
   */
  async readPacked(taskId: string, featureCount: number, part: ExamplePart = 'all'): Promise<PackedExamples & { skipped: number }> {
    const examples = (await this.readExamples(taskId)).filter((e) => part === 'all' || isHeldOut(e) === (part === 'held-out'));
    const packed = packExamples(examples, featureCount);
    return { ...packed, skipped: part === 'all' ? (await this.count(taskId)) - packed.count : 0 };
  }

  /** The examples trained on and those held out, packed apart from one read. */
  async readSplit(taskId: string, featureCount: number): Promise<{ train: PackedExamples; heldOut: PackedExamples }> {
    const examples = await this.readExamples(taskId);
    return { train: packExamples(examples.filter((e) => !isHeldOut(e)), featureCount), heldOut: packExamples(examples.filter(isHeldOut), featureCount) };
  }

  /** Examples of the task that are trained on (not held out). */
  async countTraining(taskId: string): Promise<number> {
    const ids = await this.db.getAllKeysFromIndex('examples', 'by-task', taskId);
    return ids.filter((id) => !isHeldOut({ id })).length;
  }

  /** The task's examples that pass the checks, oldest first. */
  async readExamples(taskId: string): Promise<StoredExample[]> {
    const all: unknown[] = await this.db.getAllFromIndex('examples', 'by-task', taskId);
    return all.filter(isValidExample);
  }

  /** This person's own model of the task (personalization), fine-tuned on their examples; never sent anywhere. */
  async personalModel(taskId: string): Promise<PersonalModel | undefined> {
    const v: unknown = await this.db.get('settings', `personal-model:${taskId}`);
    return isPersonalModel(v) ? v : undefined;
  }

  async putPersonalModel(taskId: string, model: PersonalModel): Promise<void> {
    try {
      await this.db.put('settings', model, `personal-model:${taskId}`);
    } catch (e) {
      if (isQuotaError(e)) throw new StorageFullError('This browser has no room left to keep your personal model.');
      throw e;
    }
  }

  /** What crossed the network for the task (client/traffic.ts). */
  async traffic(taskId: string): Promise<TrafficLedger> {
    return (await this.setting(`traffic:${taskId}`, isTrafficLedger)) ?? emptyLedger();
  }

  /** Changes the task's traffic ledger in one transaction (a page and the service worker may both record). */
  async recordTraffic(taskId: string, change: (ledger: TrafficLedger) => TrafficLedger): Promise<TrafficLedger> {
    const tx = this.db.transaction('settings', 'readwrite');
    const stored: unknown = await tx.store.get(`traffic:${taskId}`);
    const ledger = change(isTrafficLedger(stored) ? stored : emptyLedger());
    await tx.store.put(ledger, `traffic:${taskId}`);
    await tx.done;
    return ledger;
  }

  /** Error feedback's residual for the task, if one is kept. */
  async residual(taskId: string): Promise<Residual | undefined> {
    return this.setting(residualKey(taskId), isResidual);
  }

  /** Deletes the task's examples, and what was learnt from them: the personal model and the residual. */
  async deleteTask(taskId: string): Promise<void> {
    await this.db.delete('settings', `personal-model:${taskId}`);
    await this.db.delete('settings', residualKey(taskId));
    const tx = this.db.transaction('examples', 'readwrite');
    let cursor = await tx.store.index('by-task').openCursor(taskId);
    while (cursor) {
      await cursor.delete();
      cursor = await cursor.continue();
    }
    await tx.done;
  }

  /** This browser's client id for the coordinator: random, made once, kept with the data. */
  async clientId(): Promise<string> {
    // One read-write transaction: two tabs opening for the first time at once still agree on one id.
    const tx = this.db.transaction('settings', 'readwrite');
    const existing = await tx.store.get('clientId');
    const id = typeof existing === 'string' ? existing : `c-${randomId()}`;
    if (id !== existing) await tx.store.put(id, 'clientId');
    await tx.done;
    return id;
  }

  /**
   * This browser's key pair (client-key.ts), made on first use and kept with the client id. IndexedDB keeps a
   * non-extractable CryptoKey as it is: usable from here, never readable as bytes.
   */
  async signingKey(): Promise<CryptoKeyPair> {
    const existing: unknown = await this.db.get('settings', 'signingKey');
    if (isSigningKey(existing)) return existing;
    // Made outside the transaction (only IndexedDB may be awaited in one); two tabs at once keep the first.
    const made = await makeSigningKey();
    const tx = this.db.transaction('settings', 'readwrite');
    const raced: unknown = await tx.store.get('signingKey');
    const keys = isSigningKey(raced) ? raced : made;
    if (keys === made) await tx.store.put(made, 'signingKey');
    await tx.done;
    return keys;
  }

  /** A setting, if present and accepted by `guard`. */
  async setting<T>(key: string, guard: (v: unknown) => v is T): Promise<T | undefined> {
    const value: unknown = await this.db.get('settings', key);
    return guard(value) ? value : undefined;
  }

  async putSetting(key: string, value: unknown): Promise<void> {
    await this.db.put('settings', value, key);
  }

  /** Puts an update in the outbox (a new one, or one whose attempt count changed). */
  async putOutbox(item: OutboxItem): Promise<void> {
    await this.writing(['outbox'], async (tx) => void (await tx.objectStore('outbox').put(item)));
  }

  /**
   * Puts an update made from the task's error-feedback residual in the outbox, in one transaction: `make`
   * gets the residual kept now and returns the item and the residual to keep instead (null: none). Two tabs
   * contributing at once, or a refused update folded back meanwhile, are serialised by IndexedDB, so a
   * residual is never used twice or overwritten. `make` must not await (it encodes, synchronously).
   */
  async putOutboxWithResidual(taskId: string, make: (residual: Residual | undefined) => { item: OutboxItem; residual: Residual | null }): Promise<OutboxItem> {
    return this.writing(['outbox', 'settings'], async (tx) => {
      const settings = tx.objectStore('settings');
      const kept: unknown = await settings.get(residualKey(taskId));
      const { item, residual } = make(isResidual(kept) ? kept : undefined);
      await tx.objectStore('outbox').put(item);
      if (residual) await settings.put(residual, residualKey(taskId));
      else await settings.delete(residualKey(taskId));
      return item;
    });
  }

  /**
   * Drops an update the coordinator refused for good. With a codec that keeps a residual, what the update
   * carried goes back into it (same lineage and codec only), in the same transaction: a refused top-k
   * update loses nothing it learnt, it is only delayed again.
   */
  async rejectOutbox(item: OutboxItem): Promise<void> {
    // The codecs load only when an update in one of them is refused (not with every page that embeds Covey),
    // and before the transaction: it must await nothing but IndexedDB.
    const fold = item.codec === undefined || item.codec === 'f32' ? undefined : (await import('./residual-fold.ts')).carriedBy;
    await this.writing(['outbox', 'settings'], async (tx) => {
      await tx.objectStore('outbox').delete(item.updateId);
      if (!fold) return;
      const settings = tx.objectStore('settings');
      const kept: unknown = await settings.get(residualKey(item.taskId));
      const carried = isResidual(kept) ? fold(item, kept) : undefined;
      if (carried) await settings.put(carried, residualKey(item.taskId));
    });
  }

  /** Runs `work` in a read-write transaction over `stores`; a full disk is a StorageFullError, and the transaction's end is always awaited. */
  private async writing<T, S extends ArrayLike<StoreNames<CoveySchema>>>(stores: S, work: (tx: IDBPTransaction<CoveySchema, S, 'readwrite'>) => Promise<T>): Promise<T> {
    try {
      const tx = this.db.transaction(stores, 'readwrite');
      // A failed request aborts the transaction: its `done` rejects too, and is awaited (not left unhandled).
      const done = tx.done.then(() => undefined, (e: unknown) => e ?? new Error('transaction aborted'));
      const result = await work(tx).catch(async (e: unknown) => {
        await done;
        throw e;
      });
      const failure = await done;
      if (failure) throw failure;
      return result;
    } catch (e) {
      if (isQuotaError(e)) throw new StorageFullError('This browser has no room left to keep the update until it can be sent.');
      throw e;
    }
  }

  async outbox(): Promise<OutboxItem[]> {
    const all: unknown[] = await this.db.getAll('outbox');
    return all.filter(isOutboxItem).sort((a, b) => a.createdAt - b.createdAt);
  }

  async deleteOutbox(updateId: string): Promise<void> {
    await this.db.delete('outbox', updateId);
  }

  /**
   * Deletes the whole database (examples, outbox, settings and client id) and the trainer's memory of which
   * backend is fastest on this device. The store is closed after.
   */
  async deleteEverything(): Promise<void> {
    this.db.close();
    await deleteDB(this.name);
    await deleteDB(BACKEND_DB);
  }
}

/**
 * 128 random bits as 32 hex digits. `crypto.randomUUID` exists only in secure contexts; getRandomValues is
 * everywhere, so a page on plain http (a coordinator on the local network) still gets a client id.
 */
export function randomId(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Examples of the right length and of the first one's dtype, packed; the others are left out. */
function packExamples(examples: readonly StoredExample[], featureCount: number): PackedExamples {
  const all = examples.filter((e) => e.features.length === featureCount);
  const float = all[0]?.features instanceof Float32Array;
  const valid = all.filter((e) => e.features instanceof Float32Array === float);
  const features = float ? new Float32Array(valid.length * featureCount) : new Uint8Array(valid.length * featureCount);
  const labels = new Uint8Array(valid.length);
  valid.forEach((e, i) => {
    features.set(e.features, i * featureCount);
    labels[i] = e.label;
  });
  return { features, labels, count: valid.length };
}

function isQuotaError(e: unknown): boolean {
  return e instanceof DOMException && (e.name === 'QuotaExceededError' || e.name === 'UnknownError' && /quota/i.test(e.message));
}

export function isValidExample(e: unknown): e is StoredExample {
  if (typeof e !== 'object' || e === null) return false;
  const { taskId, label, features } = e as Partial<StoredExample>;
  return typeof taskId === 'string' && Number.isInteger(label) && label! >= 0 && label! < 256 && (features instanceof Uint8Array || features instanceof Float32Array);
}

/** The v3 migration step: runs inside the upgrade transaction, touching IndexedDB only. */
async function renamePixelsToFeatures(store: IDBPObjectStore<CoveySchema, ArrayLike<StoreNames<CoveySchema>>, 'examples', 'versionchange'>): Promise<void> {
  let cursor = await store.openCursor();
  while (cursor) {
    const old = cursor.value as StoredExample & { pixels?: Uint8Array };
    if (old.pixels && !old.features) {
      const { pixels, ...rest } = old;
      await cursor.update({ ...rest, features: pixels });
    }
    cursor = await cursor.continue();
  }
}

function isOutboxItem(v: unknown): v is OutboxItem {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Partial<OutboxItem>;
  return typeof o.updateId === 'string' && typeof o.url === 'string' && o.frame instanceof ArrayBuffer && typeof o.attempts === 'number' && typeof o.nextAttemptAt === 'number';
}
