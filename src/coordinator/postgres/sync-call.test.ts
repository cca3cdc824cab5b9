/** The synchronous bridge into a worker thread that the PostgreSQL store runs on. */
import { afterEach, describe, expect, it } from 'vitest';
import { SyncWorker, WorkerCallError } from './sync-call.ts';

const fixture = new URL('./sync-call-fixture.ts', import.meta.url);
const opened: SyncWorker[] = [];
afterEach(() => opened.splice(0).forEach((w) => w.close()));
const open = (timeoutMs?: number) => {
  const w = new SyncWorker(fixture, { greeting: 'hello' }, timeoutMs);
  opened.push(w);
  return w;
};

describe('SyncWorker', () => {
  it('returns what the worker\'s handler returns, awaited, in order, typed arrays intact', () => {
    const w = open();
    expect(w.call('echo', 1)).toEqual({ greeting: 'hello', x: 1 });
    expect(w.call('sleep', 30)).toBe('slept 30');
    expect(w.call('bytes')).toEqual(new Float32Array([1.5, -2]));
    for (let i = 0; i < 200; i++) expect(w.call<{ x: number }>('echo', i).x).toBe(i);
  });

  it('throws what the handler threw, with its code', () => {
    const w = open();
    let caught: unknown;
    try {
      w.call('fail');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(WorkerCallError);
    expect(caught).toMatchObject({ message: 'refused', code: '23505' });
  });

  it('gives up on a call past its timeout, and the late answer is not taken for the next call\'s', () => {
    const w = open(1_000);
    w.call('echo', 0); // the worker is up
    expect(() => w.call('sleep', 1_300)).toThrow(/did not answer sleep within 1000 ms/);
    // The next call is answered after the sleep (in order): the sleep's late answer comes first and is dropped.
    expect(w.call<{ x: number }>('echo', 7).x).toBe(7);
  });

  it('starts the worker again after it died', async () => {
    const w = open(1_000);
    expect(w.call<{ x: number }>('echo', 1).x).toBe(1);
    expect(() => w.call('die')).toThrow(/did not answer die/);
    await new Promise((r) => setTimeout(r, 50)); // the thread's exit is heard between requests
    expect(w.call<{ x: number }>('echo', 2).x).toBe(2);
  });
});
