import 'fake-indexeddb/auto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Coordinator } from '../coordinator/coordinator.ts';
import { startTestCoordinator } from '../coordinator/test-fixtures.ts';
import { connect, CoveyError, type CoveyErrorCode } from './index.ts';

let c: Coordinator;
let base: string;

beforeAll(async () => {
  ({ coordinator: c, base } = await startTestCoordinator());
});
afterAll(() => c.close());

async function codeOf(p: Promise<unknown>): Promise<{ code: CoveyErrorCode; field?: string }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof CoveyError) return { code: e.code, field: e.field };
    throw e;
  }
  throw new Error('expected a CoveyError');
}

describe('SDK', () => {
  it('connects to a task and adds examples of the right shape, by label index or name', async () => {
    const covey = await connect({ coordinator: base, task: 'tiny' });
    expect(covey.task).toMatchObject({ id: 'tiny', labels: ['a', 'b', 'c'] });
    expect(await covey.addExamples([{ label: 'b', record: { a: 1.5, b: 'y' } }, { label: 2, features: [0, 1, 0, 0] }])).toBe(2);
    expect(await covey.exampleCount()).toBe(2);
    await covey.deleteData();
    expect(await covey.exampleCount()).toBe(0);
  });

  it('says which task is unknown and which coordinator does not answer', async () => {
    expect(await codeOf(connect({ coordinator: base, task: 'nope' }))).toMatchObject({ code: 'unknown_task' });
    expect(await codeOf(connect({ coordinator: 'http://127.0.0.1:9', task: 'tiny' }))).toMatchObject({ code: 'coordinator_unreachable' });
  });

  it('refuses examples of the wrong shape, label or values, storing none of the batch', async () => {
    const covey = await connect({ coordinator: base, task: 'tiny' });
    const ok = { label: 0, features: [0, 0, 0, 1] };
    expect(await codeOf(covey.addExamples([ok, { label: 0, features: [1, 2] }]))).toEqual({ code: 'invalid_examples', field: 'examples[1].features' });
    expect(await codeOf(covey.addExamples([ok, { label: 'zebra', features: [0, 0, 0, 1] }]))).toEqual({ code: 'invalid_examples', field: 'examples[1].label' });
    expect(await codeOf(covey.addExamples([{ label: 0, features: [0, NaN, 0, 1] }]))).toMatchObject({ code: 'invalid_examples' });
    expect(await codeOf(covey.addExamples([{ label: 0, record: { a: 'many', b: 'x' } }]))).toEqual({ code: 'invalid_examples', field: 'examples[0].record.a' });
    expect(await covey.exampleCount()).toBe(0);
  });

  it('does not start with an aborted signal, and a session that failed does not block the next join', async () => {
    const covey = await connect({ coordinator: base, task: 'tiny' });
    const errors: string[] = [];
    covey.on('error', (e) => errors.push(e.message));
    covey.join({ signal: AbortSignal.abort() });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(errors).toEqual([]);
    // Node has no Web Worker, so the trainer cannot start: the session ends with an error…
    covey.join();
    await expect.poll(() => errors.length).toBe(1);
    // …and joining again tries again.
    covey.join();
    await expect.poll(() => errors.length).toBe(2);
    covey.close();
    covey.join();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(errors).toHaveLength(2);
  });
});
