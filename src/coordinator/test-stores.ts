/**
 * The store suites run against both stores (store.ts's contract): SQLite, and PostgreSQL in a cluster the
 * test file starts itself (postgres/cluster.ts) and removes. Where PostgreSQL is not installed the
 * PostgreSQL half is skipped with a note, except in CI (CI=true), where that is a failure: CI installs it.
 *
 * Call `storeBackends()` at the top of a test file; `open(name)` opens the store called `name` (the same
 * name again is the same data, as after a restart), `open()` a fresh one. Stores are closed after each test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { postgresBinDir, startCluster, type Cluster } from './postgres/cluster.ts';
import { PgStore } from './postgres/pg-store.ts';
import { SqliteStore } from './sqlite-store.ts';
import type { CoordinatorStore } from './store.ts';

export interface StoreBackend {
  name: 'SQLite' | 'PostgreSQL';
  open(name?: string): CoordinatorStore;
}

export function storeBackends(): StoreBackend[] {
  const opened: CoordinatorStore[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'covey-stores-'));
  let cluster: Cluster | null = null;
  let fresh = 0;
  afterEach(async () => {
    // The federations' queued steps (setImmediate, each of which may queue another) run before their stores close.
    await new Promise((resolve) => setTimeout(resolve, 20));
    for (const s of opened.splice(0)) s.close();
  });
  const sqlite: StoreBackend = {
    name: 'SQLite',
    open(name) {
      const s = new SqliteStore(name ? join(dir, `${name}.sqlite`) : ':memory:');
      opened.push(s);
      return s;
    },
  };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  if (!postgresBinDir()) {
    if (process.env.CI) throw new Error('CI: PostgreSQL is not installed, so the store suites cannot run against it (.ci/run installs it)');
    console.warn('PostgreSQL is not installed: the store suites run against SQLite only (apt-get install postgresql)');
    return [sqlite];
  }
  beforeAll(async () => {
    cluster = await startCluster({ durable: false });
  }, 120_000);
  afterAll(() => cluster?.stop());
  const postgres: StoreBackend = {
    name: 'PostgreSQL',
    open(name) {
      if (!cluster) throw new Error('the PostgreSQL cluster did not start');
      const s = new PgStore(cluster.url, { schema: name ? `n_${name.replace(/[^a-z0-9]/gi, '_').toLowerCase()}` : `fresh_${++fresh}` });
      opened.push(s);
      return s;
    },
  };
  return [sqlite, postgres];
}
