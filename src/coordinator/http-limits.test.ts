/** What the move to Fastify's plugins must not open: bodies read where none is wanted, routes that bypass the token. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Coordinator } from './coordinator.ts';
import { startTestCoordinator } from './test-fixtures.ts';

let c: Coordinator;
let base: string;
beforeAll(async () => {
  ({ coordinator: c, base } = await startTestCoordinator(undefined, { operatorToken: 'operator-token-for-tests', metricsAccess: 'operator' }));
});
afterAll(() => c.close());

describe('HTTP limits around the plugins', () => {
  it('reads no large binary body on routes other than the upload', async () => {
    const res = await fetch(`${base}/v1/tasks/tiny/enrol/challenge`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array(20 * 1024 * 1024) });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('body_too_large');
  });

  it('answers an OPTIONS request that is no preflight 404 before its body, closing the connection', async () => {
    const res = await fetch(`${base}/v1/tasks/tiny/checkin`, { method: 'OPTIONS', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pad: 'x'.repeat(200_000) }) });
    expect(res.status).toBe(404);
    expect(res.headers.get('connection')).toBe('close');
  });

  it('keeps HEAD and every method of the operator API and /metrics behind the token', async () => {
    for (const [method, path] of [['HEAD', '/v1/operator/tasks'], ['GET', '/v1/operator/tasks/tiny'], ['POST', '/v1/operator/tasks/tiny/pause'], ['PUT', '/v1/operator/tasks'], ['HEAD', '/metrics'], ['GET', '/v1/%6Fperator/tasks']] as const) {
      const res = await fetch(base + path, { method, headers: { 'content-type': 'application/json' }, ...(method === 'PUT' ? { body: '{}' } : {}) });
      expect(res.status, `${method} ${path}`).toBe(401);
    }
    expect(c.tasks.get('tiny')!.federation.paused).toBe(false);
  });
});
