/**
 * The person's data in this browser: their labelled examples per task, and this browser's client id. The
 * only module that imports `idb`. Everything read back is checked, since IndexedDB is another boundary.
 */
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';

export type ExampleSource = 'drawn' | 'sample';

export interface StoredExample {
  id?: number;
  taskId: string;
  label: number;
  /** Features as uint8. */
  pixels: Uint8Array;
  source: ExampleSource;
  addedAt: number;
}

interface CoveySchema extends DBSchema {
  examples: { key: number; value: StoredExample; indexes: { 'by-task': string } };
  settings: { key: string; value: unknown };
}

export const DB_NAME = 'covey';
export const DB_VERSION = 1;

/** Examples of one task, packed for the trainer: `count × featureCount` pixels and `count` labels. */
export interface PackedExamples {
  pixels: Uint8Array;
  labels: Uint8Array;
  count: number;
}

export class ExampleStore {
  private constructor(private readonly db: IDBPDatabase<CoveySchema>) {}

  static async open(name = DB_NAME): Promise<ExampleStore> {
    const db = await openDB<CoveySchema>(name, DB_VERSION, {
      upgrade(db, oldVersion) {
        // Cumulative migrations: each step takes the schema from its version to the next.
        if (oldVersion < 1) {
          db.createObjectStore('examples', { keyPath: 'id', autoIncrement: true }).createIndex('by-task', 'taskId');
          db.createObjectStore('settings');
        }
      },
    });
    return new ExampleStore(db);
  }

  close(): void {
    this.db.close();
  }

  async add(examples: readonly Omit<StoredExample, 'id'>[]): Promise<void> {
    const tx = this.db.transaction('examples', 'readwrite');
    await Promise.all([...examples.map((e) => tx.store.add(e as StoredExample)), tx.done]);
  }

  async count(taskId: string): Promise<number> {
    return this.db.countFromIndex('examples', 'by-task', taskId);
  }

  /** How many examples of each label the person holds. */
  async countByLabel(taskId: string): Promise<Map<number, number>> {
    const counts = new Map<number, number>();
    let cursor = await this.db.transaction('examples').store.index('by-task').openCursor(taskId);
    while (cursor) {
      const label = cursor.value.label;
      counts.set(label, (counts.get(label) ?? 0) + 1);
      cursor = await cursor.continue();
    }
    return counts;
  }

  /** Every valid example of the task, packed; records that fail the checks are skipped and counted. */
  async readPacked(taskId: string, featureCount: number): Promise<PackedExamples & { skipped: number }> {
    const all = await this.db.getAllFromIndex('examples', 'by-task', taskId);
    const valid = all.filter((e) => isValidExample(e, featureCount));
    const pixels = new Uint8Array(valid.length * featureCount);
    const labels = new Uint8Array(valid.length);
    valid.forEach((e, i) => {
      pixels.set(e.pixels, i * featureCount);
      labels[i] = e.label;
    });
    return { pixels, labels, count: valid.length, skipped: all.length - valid.length };
  }

  async deleteTask(taskId: string): Promise<void> {
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
    const existing = await this.db.get('settings', 'clientId');
    if (typeof existing === 'string') return existing;
    const id = `c-${crypto.randomUUID()}`;
    await this.db.put('settings', id, 'clientId');
    return id;
  }
}

function isValidExample(e: unknown, featureCount: number): e is StoredExample {
  if (typeof e !== 'object' || e === null) return false;
  const { label, pixels } = e as Partial<StoredExample>;
  return Number.isInteger(label) && label! >= 0 && label! < 256 && pixels instanceof Uint8Array && pixels.length === featureCount;
}
