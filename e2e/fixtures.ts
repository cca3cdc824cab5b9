/**
 * Shared fixtures: every page fails its test on an uncaught error or a console error, and every request a
 * context makes (pages and their workers) is recorded with its body, for the privacy assertions.
 */
import { test as base, expect, type BrowserContext, type Page } from '@playwright/test';
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

interface Fixtures {
  /** Opens a fresh browser context (its own IndexedDB: another person) with recording and error checks. */
  participant: () => Promise<Participant>;
}

export const test = base.extend<Fixtures>({
  participant: async ({ browser }, use) => {
    const opened: { context: BrowserContext; errors: string[] }[] = [];
    await use(async () => {
      const context = await browser.newContext();
      const errors: string[] = [];
      const requests: RecordedRequest[] = [];
      context.on('request', (r) => requests.push({ method: r.method(), url: r.url(), contentType: r.headers()['content-type'], body: r.postDataBuffer() }));
      const page = await context.newPage();
      page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(`console error: ${m.text()}`);
      });
      opened.push({ context, errors });
      return { context, page, app: new CoveyApp(page), requests };
    });
    for (const { context } of opened) await context.close();
    expect(opened.flatMap((o) => o.errors), 'pages must not log errors').toEqual([]);
  },
});

export { expect };
