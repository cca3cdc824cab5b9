/** What the move to Fastify's plugins must not open: bodies read where none is wanted, routes that bypass the token. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Coordinator } from './coordinator.ts';
import * as tf from '@tensorflow/tfjs';
import { authHeaders } from '../../e2e/coordinator.ts';
import { DEFAULT_LIMITS } from './admission.ts';
import { startTestCoordinator, tinyTask } from './test-fixtures.ts';

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

  it('takes a masked input of a model larger than 64 KiB, and not a byte more', async () => {
    // 4·4000+4000 + 4000·3+3 = 32,003 parameters: a 128,012-byte masked input.
    const big = tinyTask({
      id: 'big' as never,
      rounds: { minClients: 2, targetClients: 3, deadlineMs: 60_000 },
      secureAggregation: { threshold: 0.6, neighbours: null, curve: 'auto', clipNorm: 1, phaseMs: 10_000 },
      buildModel: async () => tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 4000 }), tf.layers.dense({ units: 3, activation: 'softmax' })] }),
    });
    const { coordinator, base: bigBase } = await startTestCoordinator(big);
    try {
      const auth = await authHeaders(bigBase, 'client-masked', 'big');
      const put = (bytes: number) => fetch(`${bigBase}/v1/tasks/big/rounds/1/secagg/masked`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', ...auth }, body: new Uint8Array(bytes) });
      const fits = await put(32_003 * 4);
      // Read whole and handed to the round, which has not assigned this client: refused by the protocol, not by size.
      expect(fits.status).toBe(403);
      expect(((await fits.json()) as { error: { code: string } }).error.code).toBe('secagg_not_in_round');
      const tooMany = await put(32_003 * 4 + 4);
      expect(tooMany.status).toBe(413);
      expect((await fetch(`${bigBase}/v1/tasks/big/rounds/1/secagg/masked`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array(200_000) })).status).toBe(401);
    } finally {
      await coordinator.close();
    }
    // It takes an upload slot like an update: with none free, it is refused before its body is read.
    const full = await startTestCoordinator(big, { limits: { ...DEFAULT_LIMITS, maxInFlightUploads: 0 } });
    try {
      const auth = await authHeaders(full.base, 'client-masked', 'big');
      const busy = await fetch(`${full.base}/v1/tasks/big/rounds/1/secagg/masked`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', ...auth }, body: new Uint8Array(32_003 * 4) });
      expect(busy.status).toBe(503);
      expect(((await busy.json()) as { error: { code: string } }).error.code).toBe('busy');
    } finally {
      await full.coordinator.close();
    }
  });
});
