/// <reference lib="webworker" />
/**
 * Covey's service worker: a thin switchboard (house style 13).
 * - Precaches the app shell and the trainer (TF.js included), so the app starts and trains offline.
 * - Keeps the global models the app downloaded (immutable per version) for offline training.
 * - Delivers the outbox on Background Sync, where the browser has it.
 * - Waits to take over until the page says so, so a page never runs half old, half new code; except on the
 *   first install, which has no old version to mix with: it controls the page it was installed for, so the
 *   first visit's models are kept in the model cache like any later visit's.
 * Nothing personal goes into the Cache Storage: only the app's files and the models.
 */
import { cleanupOutdatedCaches, createHandlerBoundToURL, precacheAndRoute } from 'workbox-precaching';
import { ExpirationPlugin } from 'workbox-expiration';
import { NavigationRoute, registerRoute } from 'workbox-routing';
import { CacheFirst } from 'workbox-strategies';
import { CoordinatorApi } from '../client/coordinator-api.ts';
import { Outbox } from '../client/outbox.ts';
import { CoveyStore } from '../client/store.ts';
import { isSwMessage, MODEL_CACHE, OUTBOX_SYNC_TAG, type SwBroadcast } from './messages.ts';

declare const self: ServiceWorkerGlobalScope & { __WB_MANIFEST: (string | { url: string; revision: string | null })[] };

interface SyncEvent extends ExtendableEvent {
  readonly tag: string;
}

precacheAndRoute(self.__WB_MANIFEST);
cleanupOutdatedCaches();

registerRoute(new NavigationRoute(createHandlerBoundToURL('/index.html'), { denylist: [/^\/v1\//, /^\/datasets\//, /^\/bench\//, /^\/dashboard/, /^\/metrics/] }));

registerRoute(
  ({ url, request }) => request.method === 'GET' && url.origin === self.location.origin && /^\/v1\/tasks\/[^/]+\/models\/\d+\/(model\.json|weights\.bin)$/.test(url.pathname),
  // Model versions are immutable: the cached copy is always right. Keep the last few versions.
  new CacheFirst({ cacheName: MODEL_CACHE, plugins: [new ExpirationPlugin({ maxEntries: 8 })] }),
);

/** Set when this worker installed with no active worker before it: the first install on this browser. */
let firstInstall = false;
self.addEventListener('install', () => {
  firstInstall = self.registration.active === null;
});
self.addEventListener('activate', (event) => {
  if (firstInstall) event.waitUntil(self.clients.claim());
});

self.addEventListener('message', (event: ExtendableMessageEvent) => {
  if (!isSwMessage(event.data)) return;
  if (event.data.type === 'SKIP_WAITING') void self.skipWaiting();
});

self.addEventListener('sync', (event) => {
  const sync = event as SyncEvent;
  if (sync.tag === OUTBOX_SYNC_TAG) sync.waitUntil(deliverOutbox());
});

async function deliverOutbox(): Promise<void> {
  const store = await CoveyStore.open();
  const told: Promise<void>[] = [];
  try {
    const outbox = new Outbox(store, new CoordinatorApi(self.location.origin, store), { onEvent: (event) => told.push(broadcast({ type: 'OUTBOX_EVENT', event })) });
    const report = await outbox.drain({ force: true });
    // Still waiting: fail the sync so the browser schedules another one.
    if (report.waiting > 0) throw new Error(`${report.waiting} updates still waiting`);
  } finally {
    await Promise.all(told);
    store.close();
  }
}

/** Tells every open Covey page, controlled or not yet (a first visit), so a refusal is never silent. */
async function broadcast(message: SwBroadcast): Promise<void> {
  for (const client of await self.clients.matchAll({ type: 'window', includeUncontrolled: true })) client.postMessage(message);
}
