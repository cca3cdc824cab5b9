/**
 * What crossed the network for a task, as the person may see it: bytes sent (update frames, counted when the
 * coordinator acknowledged them) and bytes received (the round's model: nothing when this browser held it,
 * a delta, or the whole model), per round and in total, per codec. Kept in IndexedDB with the person's data.
 * Bodies only: HTTP headers and the small JSON of check-ins are not counted.
 */
export type ModelVia = 'held' | 'delta' | 'full';

export interface TrafficRound {
  roundId: number;
  /** The upload's codec, once one was sent; the model's way here otherwise. */
  codec: string | null;
  sentBytes: number;
  receivedBytes: number;
  via: ModelVia | null;
  at: number;
}

export interface TrafficLedger {
  sentBytes: number;
  receivedBytes: number;
  /** Per upload codec: updates sent and their bytes. */
  byCodec: Record<string, { updates: number; sentBytes: number }>;
  /** Per way the model came: downloads and their bytes. */
  byVia: Partial<Record<ModelVia, { downloads: number; receivedBytes: number }>>;
  /** The latest rounds, newest last. */
  rounds: TrafficRound[];
  /** The latest uploads, newest last: what left the device, read from the outbox item that was sent. Absent in ledgers from before. */
  uploads?: UploadRecord[];
  /** Uploads the coordinator refused: they left the device too (absent in ledgers from before). */
  refused?: number;
}

/**
 * One update that left this device, as the coordinator answered it: its bytes, the round, and every field
 * of its metadata with its value, as the outbox item recorded them when the frame was made from them (the
 * payload is the model delta).
 */
export interface UploadRecord {
  updateId: string;
  roundId: number;
  codec: string;
  /** The whole frame: header, metadata and payload. */
  bytes: number;
  /** The payload alone: the encoded model delta. */
  payloadBytes: number;
  /** The metadata as sent (UpdateMeta): field names and values. */
  meta: Record<string, unknown>;
  /** `accepted`, `repeat` (a retry the coordinator already had), or `refused: <why>`. */
  outcome: string;
  at: number;
}

const KEPT_ROUNDS = 50;
const KEPT_UPLOADS = 50;

export const emptyLedger = (): TrafficLedger => ({ sentBytes: 0, receivedBytes: 0, byCodec: {}, byVia: {}, rounds: [], uploads: [] });

export function isTrafficLedger(v: unknown): v is TrafficLedger {
  if (typeof v !== 'object' || v === null) return false;
  const l = v as Partial<TrafficLedger>;
  return typeof l.sentBytes === 'number' && typeof l.receivedBytes === 'number' && typeof l.byCodec === 'object' && typeof l.byVia === 'object' && Array.isArray(l.rounds);
}

/** The round's entry, made when missing; older entries beyond the kept ones are dropped. */
function roundOf(ledger: TrafficLedger, roundId: number, now: number): TrafficRound {
  let entry = ledger.rounds.find((r) => r.roundId === roundId);
  if (!entry) {
    entry = { roundId, codec: null, sentBytes: 0, receivedBytes: 0, via: null, at: now };
    ledger.rounds.push(entry);
    if (ledger.rounds.length > KEPT_ROUNDS) ledger.rounds.splice(0, ledger.rounds.length - KEPT_ROUNDS);
  }
  return entry;
}

export function addDownload(ledger: TrafficLedger, roundId: number, via: ModelVia, bytes: number, now = Date.now()): TrafficLedger {
  const entry = roundOf(ledger, roundId, now);
  entry.receivedBytes += bytes;
  // A model prefetched as a delta is then 'held' when the round trains it: the round keeps 'delta'.
  if (via !== 'held' || entry.via === null) entry.via = via;
  ledger.receivedBytes += bytes;
  const v = (ledger.byVia[via] ??= { downloads: 0, receivedBytes: 0 });
  v.downloads += 1;
  v.receivedBytes += bytes;
  return ledger;
}

/** Counts an upload the coordinator answered, and keeps its record; only an accepted one (or a repeat) counts as sent bytes of its round. */
export function addUpload(ledger: TrafficLedger, record: Omit<UploadRecord, 'at'>, now = Date.now()): TrafficLedger {
  const uploads = (ledger.uploads ??= []);
  uploads.push({ ...record, at: now });
  if (uploads.length > KEPT_UPLOADS) uploads.splice(0, uploads.length - KEPT_UPLOADS);
  if (record.outcome.startsWith('refused')) {
    ledger.refused = (ledger.refused ?? 0) + 1;
    return ledger;
  }
  const { roundId, codec, bytes } = record;
  const entry = roundOf(ledger, roundId, now);
  entry.sentBytes += bytes;
  entry.codec = codec;
  ledger.sentBytes += bytes;
  const c = (ledger.byCodec[codec] ??= { updates: 0, sentBytes: 0 });
  c.updates += 1;
  c.sentBytes += bytes;
  return ledger;
}
