/**
 * Delivers the updates waiting in the outbox, exactly once from the coordinator's point of view: each keeps
 * the id it was made with, so a repeat after a lost answer is recognised and not counted again. Used by the
 * page (at start, on `online`, after each round) and by the service worker's Background Sync; a Web Lock
 * keeps two of them from sending the same item at once.
 */
import { ApiRequestError, type CoordinatorApi } from './coordinator-api.ts';
import { decideRetry, DEFAULT_RETRY, type RetryPolicy } from './retry-policy.ts';
import type { CoveyStore, OutboxItem, Residual } from './store.ts';
import { addUpload, type UploadRecord } from './traffic.ts';

/** An update to queue: the outbox adds its schedule. */
export type NewItem = Omit<OutboxItem, 'attempts' | 'nextAttemptAt' | 'createdAt'>;

/** The one call the outbox needs of the API client. */
export type Uploader = Pick<CoordinatorApi, 'upload'>;

/** What a delivery event says about its item: everything but the bytes (their count only), so it can be posted to pages cheaply. */
export type OutboxReceipt = Omit<OutboxItem, 'frame'> & { bytes: number };

export type DeliveryEvent =
  /** `stale`: buffered aggregation took it `versions` behind the model, counting at `weight` of a fresh update. */
  | { type: 'delivered'; item: OutboxReceipt; duplicate: boolean; stale?: { versions: number; weight: number } }
  | { type: 'rejected'; item: OutboxReceipt; reason: string }
  | { type: 'retrying'; item: OutboxReceipt; at: number; reason: string };

export interface DrainReport {
  delivered: number;
  rejected: number;
  waiting: number;
  /** Earliest time a waiting item may be tried again, if any waits. */
  nextAttemptAt: number | null;
}

export interface OutboxOptions {
  policy?: RetryPolicy;
  now?: () => number;
  random?: () => number;
  onEvent?: (e: DeliveryEvent) => void;
  /** Which items this outbox sends (default: all); another coordinator's items are left for its own. */
  owns?: (item: OutboxItem) => boolean;
}

export const OUTBOX_LOCK = 'covey-outbox';

/** Shortest wait before a scheduled delivery, so a burst of due items is one drain, not many. */
const MIN_SCHEDULE_MS = 1_000;

export class Outbox {
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Aborted by {@link stop}: ends scheduled deliveries, and a drain of one in flight. */
  private readonly stopping = new AbortController();

  constructor(
    private readonly store: CoveyStore,
    private readonly api: Uploader,
    private readonly o: OutboxOptions = {},
  ) {}

  async enqueue(item: NewItem): Promise<void> {
    await this.store.putOutbox(this.fresh(item));
  }

  /** Queues an update made from the task's residual, in one transaction with it (see CoveyStore.putOutboxWithResidual). */
  async enqueueWithResidual(taskId: string, make: (residual: Residual | undefined) => { item: NewItem; residual: Residual | null }): Promise<OutboxItem> {
    return this.store.putOutboxWithResidual(taskId, (residual) => {
      const made = make(residual);
      return { item: this.fresh(made.item), residual: made.residual };
    });
  }

  private fresh(item: NewItem): OutboxItem {
    const now = this.now();
    return { ...item, createdAt: now, attempts: 0, nextAttemptAt: now };
  }

  /**
   * Tries every item that is due, one at a time, under the outbox lock where the browser has Web Locks.
   * `force` tries items still backing off too: for when the network has just come back.
   */
  async drain(opts: { signal?: AbortSignal; force?: boolean } = {}): Promise<DrainReport> {
    const locks = (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks;
    if (!locks) return this.drainUnlocked(opts);
    return locks.request(OUTBOX_LOCK, { signal: opts.signal }, () => this.drainUnlocked(opts));
  }

  /**
   * Sends what is due (everything, with `force`), then keeps going on its own: the next try of what still
   * waits is scheduled for when it is due, with or without a federation session, until {@link stop}.
   * Never rejects; resolves with the drain's report, or undefined when it could not run.
   */
  async deliver(opts: { force?: boolean } = {}): Promise<DrainReport | undefined> {
    // Known to be offline: no try (each would count towards giving up) and no timer; the page's `online`
    // listener calls again when the network is back.
    const { signal } = this.stopping;
    if (signal.aborted || (globalThis as { navigator?: { onLine?: boolean } }).navigator?.onLine === false) return undefined;
    const report = await this.drain({ ...opts, signal }).catch(() => undefined);
    if (report?.nextAttemptAt != null && !signal.aborted) {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.deliver(), Math.max(MIN_SCHEDULE_MS, report.nextAttemptAt - this.now()));
    }
    return report;
  }

  /** Stops scheduled deliveries and aborts one in flight (the page or the connection is going away). */
  stop(): void {
    clearTimeout(this.timer);
    this.stopping.abort(new DOMException('the outbox stopped', 'AbortError'));
  }

  /** The items this outbox sends, oldest first. */
  async pending(): Promise<OutboxItem[]> {
    const items = await this.store.outbox();
    return this.o.owns ? items.filter(this.o.owns) : items;
  }

  private async drainUnlocked({ signal, force = false }: { signal?: AbortSignal; force?: boolean }): Promise<DrainReport> {
    const report: DrainReport = { delivered: 0, rejected: 0, waiting: 0, nextAttemptAt: null };
    for (const item of await this.pending()) {
      signal?.throwIfAborted();
      if (!force && item.nextAttemptAt > this.now()) {
        this.wait(report, item.nextAttemptAt);
        continue;
      }
      const next = await this.attempt(item, signal);
      if (next === 'delivered') report.delivered += 1;
      else if (next === 'rejected') report.rejected += 1;
      else this.wait(report, next);
    }
    return report;
  }

  private async attempt(item: OutboxItem, signal?: AbortSignal): Promise<'delivered' | 'rejected' | number> {
    try {
      const ack = await this.api.upload(item.taskId, item.url, item.updateId, new Uint8Array(item.frame), signal);
      await this.store.deleteOutbox(item.updateId);
      // What left the device: a repeat of an update whose answer was lost travelled again, so it counts again.
      const stale = ack.staleness !== undefined && ack.weight !== undefined ? { versions: ack.staleness, weight: ack.weight } : undefined;
      const outcome = ack.duplicate ? 'repeat' : stale ? `accepted, ${stale.versions} version${stale.versions === 1 ? '' : 's'} old, counted at ${stale.weight.toFixed(2)}` : 'accepted';
      await this.store.recordTraffic(item.taskId, (l) => addUpload(l, uploadRecord(item, outcome)));
      this.o.onEvent?.({ type: 'delivered', item: receipt(item), duplicate: ack.duplicate, ...(stale ? { stale } : {}) });
      return 'delivered';
    } catch (e) {
      if (signal?.aborted) throw e;
      const status = e instanceof ApiRequestError ? e.status : undefined;
      const retryAfterS = e instanceof ApiRequestError ? e.retryAfterS : undefined;
      const message = e instanceof Error ? e.message : String(e);
      const attempts = item.attempts + 1;
      const code = e instanceof ApiRequestError ? e.code : undefined;
      const decision = decideRetry({ attempts, createdAt: item.createdAt, status, now: this.now(), retryAfterS, code }, this.o.policy ?? DEFAULT_RETRY, this.o.random);
      if (!decision.retry) {
        // Dropped for good; what a top-k update carried goes back into the residual.
        await this.store.rejectOutbox(item);
        if (status !== undefined) await this.store.recordTraffic(item.taskId, (l) => addUpload(l, uploadRecord(item, `refused: ${message}`)));
        this.o.onEvent?.({ type: 'rejected', item: receipt(item), reason: status === undefined ? decision.reason : `${message} (${decision.reason})` });
        return 'rejected';
      }
      const updated = { ...item, attempts, nextAttemptAt: decision.at, lastError: message };
      await this.store.putOutbox(updated);
      this.o.onEvent?.({ type: 'retrying', item: receipt(updated), at: decision.at, reason: message });
      return decision.at;
    }
  }

  private wait(report: DrainReport, at: number): void {
    report.waiting += 1;
    report.nextAttemptAt = report.nextAttemptAt === null ? at : Math.min(report.nextAttemptAt, at);
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }
}

/** What left the device: the item's own record of the frame's fields and sizes. */
function uploadRecord(item: OutboxItem, outcome: string): Omit<UploadRecord, 'at'> {
  return { updateId: item.updateId, roundId: item.roundId, codec: item.codec ?? 'f32', bytes: item.frame.byteLength, payloadBytes: item.payloadBytes ?? item.frame.byteLength, meta: item.meta ?? {}, outcome };
}

function receipt({ frame, ...rest }: OutboxItem): OutboxReceipt {
  return { ...rest, bytes: frame.byteLength };
}
