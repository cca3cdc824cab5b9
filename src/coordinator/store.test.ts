import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from './sqlite-store.ts';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), 'covey-store-'));
  dirs.push(dir);
  return join(dir, 'covey.sqlite');
}

describe('CoordinatorStore', () => {
  it('moves a version-2 database to version 3, keeping its evaluations, so a diverged model can be recorded', () => {
    const path = tempDb();
    // The evaluations table as version 2 made it: loss and accuracy NOT NULL.
    const old = new Database(path);
    old.exec(`
      CREATE TABLE model_versions (task_id TEXT NOT NULL, version INTEGER NOT NULL, round_id INTEGER, weights BLOB NOT NULL,
        num_clients INTEGER NOT NULL DEFAULT 0, num_examples INTEGER NOT NULL DEFAULT 0, client_loss REAL,
        created_at INTEGER NOT NULL, PRIMARY KEY (task_id, version));
      CREATE TABLE evaluations (task_id TEXT NOT NULL, version INTEGER NOT NULL, accuracy REAL NOT NULL, loss REAL NOT NULL,
        evaluated_at INTEGER NOT NULL, metrics TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (task_id, version));`);
    old.prepare('INSERT INTO model_versions (task_id, version, weights, created_at) VALUES (?, ?, ?, ?)').run('digits', 0, Buffer.alloc(8), 0);
    old.prepare('INSERT INTO model_versions (task_id, version, weights, created_at) VALUES (?, ?, ?, ?)').run('digits', 1, Buffer.alloc(8), 1);
    old.prepare('INSERT INTO evaluations VALUES (?, ?, ?, ?, ?, ?)').run('digits', 0, 0.146, 2.3, 5, '{"accuracy":0.146}');
    old.pragma('user_version = 2');
    old.close();

    const store = new SqliteStore(path);
    expect(store.history('digits')[0]).toMatchObject({ version: 0, accuracy: 0.146, loss: 2.3, metrics: { accuracy: 0.146 } });
    store.recordEvaluation('digits', 1, null, null, {}, 6);
    expect(store.history('digits')[1]).toMatchObject({ version: 1, accuracy: null, loss: null });
    expect(store.unevaluatedVersions('digits')).toEqual([]);
    store.close();

    const reopened = new Database(path, { readonly: true });
    expect(reopened.pragma('user_version', { simple: true })).toBe(10);
    reopened.close();
  });

  it('keeps a task\'s lineage across restarts; a fresh database makes a new one', () => {
    const path = tempDb();
    const first = new SqliteStore(path);
    const lineage = first.lineage('digits');
    expect(lineage).toMatch(/^[\w-]{12}$/);
    first.close();
    const again = new SqliteStore(path);
    expect(again.lineage('digits')).toBe(lineage);
    again.close();
    const fresh = new SqliteStore(tempDb());
    expect(fresh.lineage('digits')).not.toBe(lineage);
    fresh.close();
  });
});
