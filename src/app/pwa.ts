/**
 * The page's one module that talks to the service worker (house style 13): registration through
 * workbox-window, the "new version" prompt, and Background Sync for the outbox. Loaded just after the page
 * (app/main.ts); the install button, which must catch an early `beforeinstallprompt`, is install-button.ts.
 */
import { Workbox } from 'workbox-window';
import { isSwBroadcast, OUTBOX_SYNC_TAG, type SwBroadcast, type SwMessage } from '../sw/messages.ts';
import { $ } from './dom.ts';

interface SyncManager {
  register(tag: string): Promise<void>;
}

export interface PwaOptions {
  onBroadcast: (message: SwBroadcast) => void;
  /** The first service worker this browser installed took control of this page (a first visit). */
  onFirstControl?: () => void;
}

let registration: ServiceWorkerRegistration | undefined;

export function startPwa(o: PwaOptions): void {
  if (!('serviceWorker' in navigator)) return;
  const wb = new Workbox('/sw.js', { scope: '/' });
  // A new service worker waits until the person agrees to reload: the page never runs half old, half new.
  wb.addEventListener('waiting', () => {
    $('update-banner').hidden = false;
    $('update-reload').onclick = () => void applyUpdate();
  });
  // The first install controls this page at once (sw.ts): what it downloaded before then goes to the model cache now.
  wb.addEventListener('controlling', (event) => {
    if (!event.isUpdate) o.onFirstControl?.();
  });
  wb.addEventListener('message', (event) => {
    if (isSwBroadcast(event.data)) o.onBroadcast(event.data);
  });
  void wb.register().then((r) => (registration = r));
}

/**
 * Tells the new service worker to take over, then reloads into the new version. The new worker may still be
 * installing when the person clicks (workbox-window announces it early): wait until it has installed.
 */
async function applyUpdate(): Promise<void> {
  navigator.serviceWorker.addEventListener('controllerchange', () => location.reload(), { once: true });
  const reg = await navigator.serviceWorker.getRegistration();
  const next = reg?.waiting ?? reg?.installing;
  if (!next) return;
  if (next.state !== 'installed') {
    await new Promise<void>((resolve) => next.addEventListener('statechange', () => next.state === 'installed' && resolve()));
  }
  const message: SwMessage = { type: 'SKIP_WAITING' };
  next.postMessage(message);
}

/** Asks the browser to deliver the outbox when connectivity returns, even if the page is closed by then. */
export async function requestOutboxSync(): Promise<void> {
  const sync = (registration as (ServiceWorkerRegistration & { sync?: SyncManager }) | undefined)?.sync;
  await sync?.register(OUTBOX_SYNC_TAG).catch(() => undefined);
}

