/** Page object for the operator's dashboard (`/dashboard`): what an operator does and sees. */
import { expect, type Browser, type BrowserContext, type Locator, type Page } from '@playwright/test';

export class Dashboard {
  readonly errors: string[] = [];
  /** Console errors the test causes on purpose: the browser logs a refused request's status. */
  private readonly expected: RegExp[] = [];

  private constructor(
    readonly context: BrowserContext,
    readonly page: Page,
  ) {
    page.on('pageerror', (e) => this.errors.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' && !this.expected.some((re) => re.test(m.text()))) this.errors.push(`console error: ${m.text()}`);
    });
  }

  /** A browser of its own (the operator is not one of the people), not yet on any page. */
  static async open(browser: Browser): Promise<Dashboard> {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    return new Dashboard(context, await context.newPage());
  }

  /** Opens `/dashboard`, with the token in the link's fragment as `npm start` prints it, or without. */
  async goto(baseUrl: string, token: string | null): Promise<void> {
    await this.page.goto(`${baseUrl}/dashboard${token === null ? '' : `#token=${token}`}`);
  }

  async signedIn(): Promise<void> {
    await expect(this.page.getByTestId('status')).toHaveText(/^live · /);
  }

  async pause(): Promise<void> {
    await this.page.getByTestId('pause').filter({ hasText: 'Pause' }).click();
    await expect(this.page.getByTestId('paused-badge')).toBeVisible();
  }

  async resume(): Promise<void> {
    await this.page.getByTestId('pause').filter({ hasText: 'Resume' }).click();
    await expect(this.page.getByTestId('paused-badge')).toBeHidden();
  }

  /** The rounds table's cell `column` (its header's text) of round `id`. */
  roundCell(id: number, column: 'State' | 'Check-ins (assigned / wait)' | 'Assigned' | 'Reported' | 'Dropped' | 'Refused' | 'Bytes up' | 'Backends'): Locator {
    const columns = ['Round', 'State', 'Check-ins (assigned / wait)', 'Assigned', 'Reported', 'Dropped', 'Refused', 'Bytes up', 'Training time (median / p90)', 'Backends'];
    return this.page.locator(`[data-testid=rounds] tr[data-round="${id}"] td`).nth(columns.indexOf(column));
  }

  /** Uploads a task file through the page's file chooser; returns the line it answers with. */
  async uploadTaskFile(name: string, json: unknown): Promise<Locator> {
    this.expected.push(/^Failed to load resource: the server responded with a status of 400 \(Bad Request\)$/);
    await this.page.getByTestId('task-file').setInputFiles({ name, mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(json)) });
    const result = this.page.getByTestId('task-file-result');
    await expect(result).not.toHaveText(/^(Checking .*)?$/);
    return result;
  }

  async close(): Promise<void> {
    await this.context.close();
  }
}
