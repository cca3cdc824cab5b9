/** Messages between the page and the service worker: a closed set, types only plus guards. */
import type { DeliveryEvent } from '../client/outbox.ts';

export const OUTBOX_SYNC_TAG = 'covey-outbox';
export const MODEL_CACHE = 'covey-models';

/** Page → service worker. */
export type SwMessage = { type: 'SKIP_WAITING' };

/** Service worker → pages: each outbox delivery it made, accepted or refused, so the page can say so. */
export type SwBroadcast = { type: 'OUTBOX_EVENT'; event: DeliveryEvent };

export function isSwMessage(data: unknown): data is SwMessage {
  return typeof data === 'object' && data !== null && (data as { type?: unknown }).type === 'SKIP_WAITING';
}

export function isSwBroadcast(data: unknown): data is SwBroadcast {
  return typeof data === 'object' && data !== null && (data as { type?: unknown }).type === 'OUTBOX_EVENT';
}
