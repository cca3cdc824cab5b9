/**
 * Shared fixtures: every page fails its test on an uncaught error or a console error, and every request a
 * context makes (pages, their workers and the service worker) is recorded with its body. When a test ends,
 * each context's traffic is audited (privacy.ts) against every example its pages hold in IndexedDB and every
 * sample-data file it downloaded: the test fails if any request could have carried one.
 */
import { test as base, expect, type BrowserContext, type Page, type Request, type TestInfo } from '@playwright/test';
import { examplesFromCsv } from '../src/client/csv-import.ts';
import type { Codec } from '../src/core/codec.ts';
import { codecFor } from '../src/core/codecs/index.ts';
import { decodeRecords } from '../src/core/example-records.ts';
import type { TaskSummary } from '../src/core/protocol.ts';
import { startCoordinator, type RunningCoordinator } from './coordinator.ts';
import { CoveyApp } from './covey-app.ts';
import { auditTraffic, type PrivacyReport, type RecordedRequest, type StoredFeatures } from './privacy.ts';

export type { RecordedRequest };

export interface Participant {
  context: BrowserContext;
  page: Page;
  app: CoveyApp;
  requests: RecordedRequest[];
  /**
   * The privacy audit the fixture runs when the test ends, now: this person's requests so far against the
   * examples their open pages hold and the sample data they downloaded. Rejects naming the request.
   */
  audit(): Promise<PrivacyReport>;
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
  // Depends on the coordinator, so its pages close (and its traffic is audited) before the coordinator stops.
  participant: async ({ browser, coordinator: _ }, use, testInfo) => {
    const opened: Opened[] = [];
    await use(async (opts = {}) => {
      const context = await browser.newContext();
      const person: Opened = { context, errors: [], requests: [], downloads: [] };
      context.on('request', (r) => person.requests.push(record(r)));
      // The sample data it downloads, read as it arrives (a page may navigate away from the body later).
      context.on('requestfinished', (r) => {
        if (SAMPLE_DATA.test(new URL(r.url()).pathname)) {
          // Undefined: not received (refused, not found); null: received, but Playwright no longer has the body.
          const body = r.response().then((res) => (res?.ok() ? res.body().catch(() => null) : undefined), () => null);
          person.downloads.push({ url: r.url(), body });
        }
      });
      const page = await context.newPage();
      page.on('pageerror', (e) => person.errors.push(`page error: ${e.message}`));
      page.on('console', (m) => {
        if (m.type() === 'error' && !opts.expectedConsoleErrors?.test(m.text())) person.errors.push(`console error: ${m.text()}`);
      });
      opened.push(person);
      return { context, page, app: new CoveyApp(page), requests: person.requests, audit: async () => auditPerson(person, await heldExamples(person, testInfo)) };
    });
    // What each person held, read before their browser closes: examples deleted during the test still
    // count, through the sample data they came from.
    const held: (Held | Error)[] = [];
    for (const person of opened) {
      const started = performance.now();
      try {
        held.push({ ...(await heldExamples(person, testInfo)), readMs: Math.round(performance.now() - started) });
      } catch (e) {
        held.push(e instanceof Error ? e : new Error(String(e)));
      } finally {
        await person.context.close();
      }
    }
    expect(opened.flatMap((o) => o.errors), 'pages must not log errors').toEqual([]);
    // Every request is in by now: the contexts are closed.
    const failures: string[] = [];
    for (const [i, person] of opened.entries()) {
      try {
        const gathered = held[i]!;
        if (gathered instanceof Error) throw new Error(`what this person held could not be gathered: ${gathered.message}`, { cause: gathered });
        const report = await auditPerson(person, gathered);
        const mb = (report.scannedBytes / 1e6).toFixed(2);
        const description = `person ${i + 1}: ${person.requests.length} requests (${report.fromServiceWorker} from the service worker, ${report.uploads.length} uploads), ${report.examples} examples (${report.uninformative} uninformative; read in ${gathered.readMs} ms) as ${report.needles} needles, ${mb} MB searched in ${report.ms} ms`;
        testInfo.annotations.push({ type: 'privacy audit', description });
      } catch (e) {
        failures.push(`person ${i + 1}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    expect(failures, 'no request may carry an example or a field outside the protocol (e2e/privacy.ts)').toEqual([]);
  },
});

interface Opened {
  context: BrowserContext;
  errors: string[];
  requests: RecordedRequest[];
  downloads: { url: string; body: Promise<Buffer | null | undefined> }[];
}

interface Held {
  examples: StoredFeatures[];
  /** The lines of the CSV files it downloaded, looked for verbatim too. */
  rows: string[];
  readMs?: number;
}

/** The app's "Load sample data" files, and the embedded SDK example's: `/datasets/{task}/{iid|noniid}/NN.bin`, `/datasets/{task}/clients/NN.csv`. */
const SAMPLE_DATA = /^\/datasets\/([^/]+)\/.+\.(bin|csv)$/;

/** auditTraffic on the person's requests, with each upload checked against its task's model size and codec. */
async function auditPerson(person: Opened, held: Held): Promise<PrivacyReport> {
  const models = await uploadModels(person.requests);
  return auditTraffic(person.requests, held.examples, { rows: held.rows, model: (taskId) => models.get(taskId) });
}

function record(r: Request): RecordedRequest {
  const headers = r.headers();
  return { method: r.method(), url: r.url(), contentType: headers['content-type'], body: r.postDataBuffer(), headers, fromServiceWorker: r.serviceWorker() !== null };
}

/** The examples in the IndexedDB of every origin the context's open pages are on, and the sample data it downloaded. */
async function heldExamples(person: Opened, testInfo: TestInfo): Promise<Held> {
  const examples: StoredFeatures[] = [];
  const rows: string[] = [];
  const origins = new Set<string>();
  for (const page of person.context.pages()) {
    const origin = originOf(page.url());
    if (!origin || origins.has(origin) || page.isClosed()) continue;
    origins.add(origin);
    try {
      examples.push(...(await storedExamples(page)));
    } catch (e) {
      testInfo.annotations.push({ type: 'privacy audit', description: `could not read the examples stored at ${origin}: ${e instanceof Error ? e.message : String(e)}` });
    }
  }
  for (const download of person.downloads) {
    const received = await download.body;
    if (received === undefined) continue;
    const url = new URL(download.url);
    const task = await taskSummary(url, decodeURIComponent(SAMPLE_DATA.exec(url.pathname)![1]!));
    if (!task) throw new Error(`privacy audit: the coordinator gave no summary of the task of ${download.url}`);
    // The body as the browser received it; fetched again (the files are static) where Playwright no longer had it.
    const body = received ?? Buffer.from(await (await fetch(url)).arrayBuffer());
    if (url.pathname.endsWith('.csv')) {
      const text = body.toString('utf8');
      examples.push(...examplesFromCsv(text, task).map((e) => e.features));
      rows.push(...text.split(/\r?\n/).slice(1).filter((line) => line.trim() !== ''));
    } else {
      examples.push(...decodeRecords(new Uint8Array(body), task.inputShape.reduce((a, b) => a * b, 1)).map((e) => e.pixels));
    }
  }
  return { examples, rows };
}

const originOf = (url: string): string | undefined => {
  const origin = URL.canParse(url) ? new URL(url).origin : 'null';
  return origin === 'null' ? undefined : origin;
};

/** The `features` of every record in the page origin's `covey` database, `examples` store; none when there is no such database (it is not made). */
async function storedExamples(page: Page): Promise<StoredFeatures[]> {
  const read = page.evaluate(async () => {
    const db = await new Promise<IDBDatabase | null>((resolve) => {
      const request = indexedDB.open('covey');
      request.onupgradeneeded = () => request.transaction!.abort(); // no database here: do not make one
      request.onerror = () => resolve(null);
      request.onsuccess = () => resolve(request.result);
    });
    if (!db) return [];
    try {
      if (!db.objectStoreNames.contains('examples')) return [];
      const records = await new Promise<unknown[]>((resolve, reject) => {
        const all = db.transaction('examples').objectStore('examples').getAll();
        all.onsuccess = () => resolve(all.result as unknown[]);
        all.onerror = () => reject(all.error);
      });
      const base64 = (bytes: Uint8Array) => {
        let binary = '';
        for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
        return btoa(binary);
      };
      return records.flatMap((r) => {
        // `pixels` is the field's name before store version 3.
        const features = (r as { features?: unknown; pixels?: unknown }).features ?? (r as { pixels?: unknown }).pixels;
        if (!(features instanceof Uint8Array || features instanceof Float32Array)) return [];
        return [{ float: features instanceof Float32Array, data: base64(new Uint8Array(features.buffer, features.byteOffset, features.byteLength)) }];
      });
    } finally {
      db.close();
    }
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('reading IndexedDB took over 20 s')), 20_000)));
  const packed = await Promise.race([read, timeout]).finally(() => clearTimeout(timer));
  return packed.map(({ float, data }) => {
    const bytes = Buffer.from(data, 'base64');
    const copy = new Uint8Array(bytes).buffer;
    return float ? new Float32Array(copy) : new Uint8Array(copy);
  });
}

/** The task's summary from the coordinator at `near`'s origin, or undefined when it does not answer. */
async function taskSummary(near: URL, taskId: string): Promise<TaskSummary | undefined> {
  try {
    const response = await fetch(new URL(`/v1/tasks/${encodeURIComponent(taskId)}`, near));
    return response.ok ? ((await response.json()) as TaskSummary) : undefined;
  } catch {
    return undefined;
  }
}

/** For each task the person uploaded to, the model size and codec an upload must fit, as its coordinator says now. */
async function uploadModels(requests: readonly RecordedRequest[]): Promise<Map<string, { parameterCount: number; codec: Codec }>> {
  const models = new Map<string, { parameterCount: number; codec: Codec }>();
  for (const r of requests) {
    const match = r.method === 'PUT' ? /^\/v1\/tasks\/([^/]+)\/rounds\//.exec(new URL(r.url).pathname) : null;
    const taskId = match && decodeURIComponent(match[1]!);
    if (!taskId || models.has(taskId)) continue;
    const task = await taskSummary(new URL(r.url), taskId);
    const codec = task && codecFor(task.config.codec);
    if (task && codec) models.set(taskId, { parameterCount: task.parameterCount, codec });
  }
  return models;
}

export { expect };
