/**
 * Shared fixtures: every page fails its test on an uncaught error or a console error, and every request a
 * context makes (pages and their workers) is recorded with its body, for the privacy assertions.
 */
import { test as base, expect, type BrowserContext, type Page } from '@playwright/test';
import { startCoordinator, type RunningCoordinator } from './coordinator.ts';
import { CoveyApp } from './covey-app.ts';

export interface RecordedRequest {
  method: string;
  url: string;
  contentType: string | undefined;
  body: Buffer | null;
}

export interface Participant {
  context: BrowserContext;
  page: Page;
  app: CoveyApp;
  requests: RecordedRequest[];
}

/** People who each open the app on one shard of the digits sample data (500 digits each), load it and join. */
export async function joinedPeople(participant: (opts?: ParticipantOptions) => Promise<Participant>, url: string, shards: readonly number[]): Promise<Participant[]> {
  const people: Participant[] = [];
  for (const shard of shards) {
    const p = await participant();
    await p.app.open(url, `?shard=${shard}`);
    expect(await p.app.loadSampleData()).toBe(500);
    people.push(p);
  }
  for (const p of people) await p.app.join();
  return people;
}

export interface ParticipantOptions {
  /**
   * Console errors the test causes on purpose and expects, such as the browser's own "Failed to load
   * resource: net::ERR_INTERNET_DISCONNECTED" while a test holds the network off.
   */
  expectedConsoleErrors?: RegExp;
}

interface Fixtures {
  /** Environment for the test's coordinator (round policy, app directory); set with `test.use`. */
  coordinatorEnv: Record<string, string>;
  /** The real coordinator, on a free port with a fresh data directory, for this test alone. */
  coordinator: RunningCoordinator;
  /** Opens a fresh browser context (its own IndexedDB: another person) with recording and error checks. */
  participant: (opts?: ParticipantOptions) => Promise<Participant>;
}

/** What Chromium logs for a request that failed because the test took the network (or an answer) away. */
export const OFFLINE_ERRORS = /Failed to load resource: net::ERR_(INTERNET_DISCONNECTED|CONNECTION_RESET|FAILED)/;

export const test = base.extend<Fixtures>({
  coordinatorEnv: [{}, { option: true }],
  coordinator: async ({ coordinatorEnv }, use) => {
    const coordinator = await startCoordinator(coordinatorEnv);
    await use(coordinator);
    await coordinator.stop();
  },
  // Depends on the coordinator, so its pages close before the coordinator stops.
  participant: async ({ browser, coordinator: _ }, use) => {
    const opened: { context: BrowserContext; errors: string[] }[] = [];
    await use(async (opts = {}) => {
      const context = await browser.newContext();
      const errors: string[] = [];
      const requests: RecordedRequest[] = [];
      context.on('request', (r) => requests.push({ method: r.method(), url: r.url(), contentType: r.headers()['content-type'], body: r.postDataBuffer() }));
      const page = await context.newPage();
      page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
      page.on('console', (m) => {
        if (m.type() === 'error' && !opts.expectedConsoleErrors?.test(m.text())) errors.push(`console error: ${m.text()}`);
      });
      opened.push({ context, errors });
      return { context, page, app: new CoveyApp(page), requests };
    });
    for (const { context } of opened) await context.close();
    expect(opened.flatMap((o) => o.errors), 'pages must not log errors').toEqual([]);
  },
});

export { expect };
