/** Page object for the Covey app: what a person does and sees, in their words. */
import { expect, type Page } from '@playwright/test';

export class CoveyApp {
  constructor(readonly page: Page) {}

  /**
   * Opens the app. Unless the query names a backend or `probe` is set, it asks for WebGL (`?backend=webgl`):
   * the backend probe at the first round costs each browser seconds here, and e2e/webgpu.spec.ts,
   * e2e/batch.spec.ts and e2e/embed.spec.ts are where it runs.
   */
  async open(baseUrl: string, query = '', { probe = false } = {}): Promise<void> {
    const params = new URLSearchParams(query);
    if (!probe && !params.has('backend')) params.set('backend', 'webgl');
    await this.page.goto(`${baseUrl}/?${params}`);
    await expect(this.page.getByTestId('connection')).toHaveText('coordinator online');
  }

  async loadSampleData(): Promise<number> {
    const before = await this.exampleCount();
    await this.page.getByTestId('load-sample').click();
    await expect.poll(() => this.exampleCount()).toBeGreaterThan(before);
    return this.exampleCount();
  }

  async exampleCount(): Promise<number> {
    return Number(await this.page.getByTestId('example-total').textContent());
  }

  /** How many examples the person holds of the label named `name` (for digits, the digit). */
  async countOfLabel(name: string | number): Promise<number> {
    return Number(await this.page.locator(`[data-testid=label-counts] li[data-label="${name}"] b`).textContent());
  }

  /** Draws a rough stroke shape on the pad with the mouse and saves it under `label`. */
  async drawDigit(label: number): Promise<void> {
    await this.sketchDigit(label);
    await this.page.getByRole('button', { name: String(label), exact: true }).click();
  }

  /** Draws a rough `label` (1, or a 7 for anything else) on the pad without saving it. */
  async sketchDigit(label: number): Promise<void> {
    const box = (await this.page.getByTestId('pad').boundingBox())!;
    const at = (fx: number, fy: number) => [box.x + fx * box.width, box.y + fy * box.height] as const;
    const strokes: [number, number][][] = label === 1 ? [[[0.5, 0.2], [0.5, 0.8]]] : [[[0.3, 0.25], [0.7, 0.25], [0.45, 0.8]]];
    for (const stroke of strokes) {
      await this.page.mouse.move(...at(...stroke[0]!));
      await this.page.mouse.down();
      for (const point of stroke.slice(1)) await this.page.mouse.move(...at(...point), { steps: 12 });
      await this.page.mouse.up();
    }
  }

  async deleteAllExamples(): Promise<void> {
    this.page.once('dialog', (d) => void d.accept());
    await this.page.getByTestId('delete-all').click();
    await expect(this.page.getByTestId('example-total')).toHaveText('0');
  }

  async join(): Promise<void> {
    await this.page.getByTestId('join').click();
    await expect(this.page.getByTestId('join')).toHaveText('Leave');
  }

  async leave(): Promise<void> {
    await this.page.getByTestId('join').click();
    await expect(this.page.getByTestId('join')).toHaveText('Join');
  }

  async backend(): Promise<string | undefined> {
    await expect(this.page.getByTestId('backend')).toHaveAttribute('data-backend', /.+/, { timeout: 60_000 });
    return this.page.getByTestId('backend').getAttribute('data-backend').then((b) => b ?? undefined);
  }

  async contributions(): Promise<number> {
    return Number(await this.page.getByTestId('contributions').textContent());
  }

  async outboxCount(): Promise<number> {
    return Number(await this.page.getByTestId('outbox-count').textContent());
  }

  /** Waits until the service worker controls the page (after the first visit's install). */
  async waitForServiceWorker(): Promise<void> {
    await this.page.evaluate(() => navigator.serviceWorker.ready);
    if (await this.page.evaluate(() => navigator.serviceWorker.controller === null)) await this.page.reload();
    await expect.poll(() => this.page.evaluate(() => navigator.serviceWorker.controller !== null)).toBe(true);
  }

  /**
   * After a first visit: the service worker controls the page (the app starts offline) and the current
   * model is held in IndexedDB (the client trains and predicts offline with it).
   */
  async waitUntilReadyOffline(): Promise<void> {
    await this.waitForServiceWorker();
    const current = await this.page.evaluate(async () => ((await (await fetch('/v1/tasks/digits')).json()) as { modelVersion: number }).modelVersion);
    await expect.poll(async () => ((await this.setting('model:digits')) as { version?: number } | undefined)?.version).toBe(current);
  }

  /** A value of the app's `settings` store in IndexedDB, as plain data (a Float32Array field as its length, non-zeros and sum). */
  setting(key: string): Promise<unknown> {
    return this.page.evaluate(async (key) => {
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const r = indexedDB.open('covey');
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
      const value = await new Promise<unknown>((resolve, reject) => {
        const r = db.transaction('settings').objectStore('settings').get(key);
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
      db.close();
      if (typeof value !== 'object' || value === null) return value;
      const summary = (v: Float32Array) => ({ length: v.length, nonZero: v.filter((x) => x !== 0).length, sum: v.reduce((a, b) => a + b, 0) });
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, v instanceof Float32Array ? summary(v) : v]));
    }, key);
  }

  /**
   * Fires the service worker's Background Sync event for `tag` now, as Chromium would once it sees the network
   * back (it would otherwise wait minutes after a failed sync), through the DevTools protocol.
   */
  async fireBackgroundSync(tag: string): Promise<void> {
    const cdp = await this.page.context().newCDPSession(this.page);
    try {
      const origin = new URL(this.page.url()).origin;
      const registered = new Promise<string>((resolve) => {
        cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations }) => {
          const ours = registrations.find((r) => r.scopeURL.startsWith(origin) && !r.isDeleted);
          if (ours) resolve(ours.registrationId);
        });
      });
      await cdp.send('ServiceWorker.enable');
      await cdp.send('ServiceWorker.dispatchSyncEvent', { origin, registrationId: await registered, tag, lastChance: false });
    } finally {
      await cdp.detach();
    }
  }

  /** Every URL in the Cache Storage, by cache. */
  async cachedUrls(): Promise<Record<string, string[]>> {
    return this.page.evaluate(async () => {
      const out: Record<string, string[]> = {};
      for (const name of await caches.keys()) out[name] = (await (await caches.open(name)).keys()).map((r) => new URL(r.url).pathname);
      return out;
    });
  }
}
