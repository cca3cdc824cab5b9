/**
 * The worker's memory of which backend won the probe, per device and model, in its own small IndexedDB
 * database (`covey-backends`): the probe runs once, not at every visit. A choice is kept for 30 days; a new
 * browser version or GPU driver is a new device (the key holds the user agent and the adapter), and a new
 * model architecture or batch size a new model. The connection is closed after each use, so that "delete
 * everything" (client/store.ts) is never blocked by the worker.
 */
import { openDB } from 'idb';
import { BACKEND_DB, type BackendMeasurement, type BackendName } from './protocol.ts';

export interface RememberedChoice {
  backend: BackendName;
  measurements: BackendMeasurement[];
  measuredAt: number;
  probeMs: number;
}

export interface BackendMemory {
  recall(key: string): Promise<RememberedChoice | undefined>;
  remember(key: string, choice: RememberedChoice): Promise<void>;
}

const STORE = 'choices';
const KEEP_MS = 30 * 24 * 3600_000;

export function indexedDbMemory(name = BACKEND_DB, now: () => number = Date.now): BackendMemory {
  const open = () => openDB(name, 1, { upgrade: (db) => void db.createObjectStore(STORE) });
  return {
    async recall(key) {
      const db = await open();
      try {
        const value: unknown = await db.get(STORE, key);
        return isRemembered(value) && now() - value.measuredAt < KEEP_MS ? value : undefined;
      } finally {
        db.close();
      }
    },
    async remember(key, choice) {
      const db = await open();
      try {
        await db.put(STORE, choice, key);
      } finally {
        db.close();
      }
    },
  };
}

/** The key of a device and a model: the browser, the GPU adapter, and a digest of the model's architecture and batch. */
export async function choiceKey(device: string, modelTopology: unknown, batchSize: number): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(JSON.stringify(modelTopology)));
  const hex = [...new Uint8Array(digest).slice(0, 12)].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${device}|model ${hex}|batch ${batchSize}`;
}

/**
 * Stored values are read back as `unknown`: another version of Covey, or a person's tools, may have written
 * them. The backend's name is not checked against a list: a recalled choice is used only when it names one
 * of the backends that work here (worker/backend.ts).
 */
function isRemembered(v: unknown): v is RememberedChoice {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as Partial<RememberedChoice>;
  return typeof c.backend === 'string' && Array.isArray(c.measurements) && c.measurements.every(isMeasurement) && typeof c.measuredAt === 'number' && typeof c.probeMs === 'number';
}

/** A timing as the probe writes it: every number it holds finite and positive (a gradient error may be 0), the batch an integer. */
function isMeasurement(v: unknown): v is BackendMeasurement {
  if (typeof v !== 'object' || v === null) return false;
  const m = v as Partial<Record<keyof BackendMeasurement, unknown>>;
  const positive = (x: unknown) => x === undefined || (typeof x === 'number' && Number.isFinite(x) && x > 0);
  return typeof m.backend === 'string' && positive(m.samplesPerSecond) && positive(m.msPerStep) && positive(m.warmupMs)
    && (m.batchSize === undefined || (Number.isInteger(m.batchSize) && (m.batchSize as number) > 0))
    && (m.gradientError === undefined || (typeof m.gradientError === 'number' && m.gradientError >= 0))
    && (m.reason === undefined || typeof m.reason === 'string')
    && (m.samplesPerSecond === undefined) === (m.msPerStep === undefined);
}
