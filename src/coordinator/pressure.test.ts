import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from './admission.ts';
import type { Coordinator } from './coordinator.ts';
import { startTestCoordinator, tinyTask } from './test-fixtures.ts';

let c: Coordinator | undefined;
afterEach(() => c?.close());

describe('load shedding', () => {
  it('answers 503 busy with Retry-After, in the API\'s shape and readable cross-origin, while the process is past a limit', async () => {
    let base: string;
    // A heap limit of one byte: always past it.
    ({ coordinator: c, base } = await startTestCoordinator(tinyTask(), { limits: { ...DEFAULT_LIMITS, maxHeapUsedBytes: 1 }, pressureSampleMs: 20 }));
    await expect.poll(async () => (await fetch(`${base}/v1/tasks/tiny`)).status).toBe(503);
    const res = await fetch(`${base}/v1/tasks/tiny`, { headers: { origin: 'https://allowed.example' } });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(res.headers.get('access-control-allow-origin')).toBe('https://allowed.example');
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('busy');
    expect(body.error.message).toMatch(/heap is nearly full/);
    expect((await fetch(`${base}/healthz`)).status).toBe(503);
  });

  it('serves normally under the default limits', async () => {
    let base: string;
    ({ coordinator: c, base } = await startTestCoordinator(tinyTask(), { pressureSampleMs: 20 }));
    await new Promise((r) => setTimeout(r, 100));
    expect((await fetch(`${base}/v1/tasks/tiny`)).status).toBe(200);
  });
});
