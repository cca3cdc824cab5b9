import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from './admission.ts';
import { hostPolicy } from './host-check.ts';
import { readWeights } from '../model/tf-model.ts';
import { inflateRawSync } from 'node:zlib';
import { int8 } from '../core/codecs/int8.ts';
import { applyModelDelta, decodeModelDelta } from '../core/model-delta.ts';
import type { Coordinator } from './coordinator.ts';
import { makeSigningKey } from '../client/client-key.ts';
import { authHeaders, enrol } from '../../e2e/coordinator.ts';
import { TINY_PARAMS, startTestCoordinator, tinyTask, updateFrame } from './test-fixtures.ts';

let c: Coordinator;
let base: string;

beforeAll(async () => {
  // A one-page "app", so that pages and their headers are served as the built PWA's are.
  const appDir = mkdtempSync(join(tmpdir(), 'covey-app-'));
  writeFileSync(join(appDir, 'index.html'), '<!doctype html><title>Covey</title><script type="module" src="/main.js"></script>');
  const sdkDir = mkdtempSync(join(tmpdir(), 'covey-sdk-'));
  writeFileSync(join(sdkDir, 'covey.js'), 'export const connect = () => {};');
  ({ coordinator: c, base } = await startTestCoordinator(undefined, { appDir, sdkDir }));
});
afterAll(() => c.close());

let auth: Record<string, string> = {};
const put = (path: string, body: BodyInit, type = 'application/octet-stream') =>
  fetch(base + path, { method: 'PUT', headers: { 'content-type': type, ...auth }, body });

async function expectRefusal(res: Response, status: number, code: string, field?: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/application\/json/);
  const body = (await res.json()) as { error: { code: string; message: string; field?: string } };
  expect(body.error.code).toBe(code);
  expect(body.error.message.length).toBeGreaterThan(0);
  if (field) expect(body.error.field).toBe(field);
}

describe('HTTP API', () => {
  it('serves a model that TF.js loads, with immutable caching', async () => {
    const res = await fetch(`${base}/v1/tasks/tiny/models/0/model.json`);
    expect(res.headers.get('cache-control')).toContain('immutable');
    const model = await tf.loadLayersModel(`${base}/v1/tasks/tiny/models/0/model.json`);
    const served = await readWeights(model);
    expect(served.length).toBe(TINY_PARAMS);
    expect([...served]).toEqual([...c.store.latestVersion('tiny')!.weights]);
  });

  it('refuses check-ins and uploads without a token, or with another client\'s', async () => {
    const body = JSON.stringify({ clientId: 'client-aaaa', exampleCount: 5 });
    await expectRefusal(await fetch(`${base}/v1/tasks/tiny/checkin`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }), 401, 'token_required', 'authorization');
    const other = await authHeaders(base, 'client-other', 'tiny');
    await expectRefusal(await fetch(`${base}/v1/tasks/tiny/checkin`, { method: 'POST', headers: { 'content-type': 'application/json', ...other }, body }), 403, 'token_mismatch', 'clientId');
    await expectRefusal(await fetch(`${base}/v1/tasks/tiny/rounds/1/updates/update-0009`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: updateFrame('client-aaaa', new Float32Array(TINY_PARAMS)) }), 401, 'token_required');
    await expectRefusal(await fetch(`${base}/v1/tasks/tiny/rounds/1/updates/update-0009`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', ...other }, body: updateFrame('client-aaaa', new Float32Array(TINY_PARAMS)) }), 403, 'token_mismatch', 'meta.clientId');
    expect(c.tasks.get('tiny')!.federation.summary().round!.received).toBe(0);
  });

  it('lets only the holder of a client id\'s key enrol it again', async () => {
    const mine = await makeSigningKey();
    expect((await enrol(base, 'client-keyed', 'tiny', mine)).status).toBe(200);
    await expectRefusal(await enrol(base, 'client-keyed', 'tiny', null), 401, 'proof_required', 'proof');
    await expectRefusal(await enrol(base, 'client-keyed', 'tiny', await makeSigningKey()), 403, 'invalid_signature', 'proof.signature');
    const renewed = await enrol(base, 'client-keyed', 'tiny', mine);
    expect(renewed.status).toBe(200);
    const { token } = (await renewed.json()) as { token: string };
    const checkin = await fetch(`${base}/v1/tasks/tiny/checkin`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ clientId: 'client-keyed', exampleCount: 0 }) });
    expect(checkin.status).toBe(200);
  });

  it('assigns on check-in and says Retry-After when a client must wait', async () => {
    auth = await authHeaders(base, 'client-aaaa', 'tiny');
    const checkin = (clientId: string) =>
      fetch(`${base}/v1/tasks/tiny/checkin`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify({ clientId, exampleCount: 5 }) });
    const a = await checkin('client-aaaa');
    const { lineage } = c.tasks.get('tiny')!.federation;
    expect(await a.json()).toMatchObject({ status: 'assigned', roundId: 1, modelUrl: `/v1/tasks/tiny/models/0/model.json?lineage=${lineage}`, uploadUrl: '/v1/tasks/tiny/rounds/1/updates/' });
    expect((await fetch(`${base}/v1/tasks/tiny/models/0/weights.bin?lineage=${lineage}`)).status).toBe(200);
    expect((await put('/v1/tasks/tiny/rounds/1/updates/update-0001', updateFrame('client-aaaa', new Float32Array(TINY_PARAMS)))).status).toBe(200);
    const again = await checkin('client-aaaa');
    expect(await again.json()).toMatchObject({ status: 'wait' });
    expect(Number(again.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('refuses malformed requests with a JSON error naming the problem', async () => {
    const frame = updateFrame('client-aaaa', new Float32Array(TINY_PARAMS));
    await expectRefusal(await put('/v1/tasks/tiny/rounds/99/updates/update-0002', frame), 404, 'unknown_round', 'round');
    await expectRefusal(await put('/v1/tasks/nope/rounds/1/updates/update-0002', frame), 404, 'unknown_task', 'task');
    await expectRefusal(await put('/v1/tasks/tiny/rounds/1/updates/update-0002', new Uint8Array(1_000_000)), 413, 'body_too_large', 'body');
    await expectRefusal(await put('/v1/tasks/tiny/rounds/1/updates/update-0002', 'hello', 'text/plain'), 415, 'unsupported_media_type');
    await expectRefusal(await put('/v1/tasks/tiny/rounds/1/updates/update-0002', updateFrame('client-aaaa', [1, 2])), 400, 'invalid_frame');
    await expectRefusal(
      await fetch(`${base}/v1/tasks/tiny/checkin`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: '{"clientId":1}' }),
      400,
      'invalid_request',
      'clientId',
    );
    await expectRefusal(await fetch(`${base}/v1/tasks/tiny/models/42/model.json`), 404, 'unknown_version', 'version');
    // A URL from before the coordinator was started afresh (another lineage) is not answered with today's model.
    await expectRefusal(await fetch(`${base}/v1/tasks/tiny/models/0/model.json?lineage=earlier`), 404, 'unknown_version', 'lineage');
    await expectRefusal(await fetch(`${base}/v1/tasks/tiny/models/0/weights.bin?lineage=earlier`), 404, 'unknown_version', 'lineage');
    expect(c.tasks.get('tiny')!.federation.summary().round!.received).toBe(1);
  });

  it('answers CORS only for the task\'s allowed origins, preflights included', async () => {
    const preflight = (origin: string) =>
      fetch(`${base}/v1/tasks/tiny/rounds/1/updates/x`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'PUT', 'access-control-request-headers': 'content-type' } });
    const allowed = await preflight('https://allowed.example');
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://allowed.example');
    expect(allowed.headers.get('access-control-allow-methods')).toContain('PUT');
    for (const origin of ['https://evil.example', 'null']) {
      const refused = await preflight(origin);
      expect(refused.headers.get('access-control-allow-origin')).toBeNull();
      await expectRefusal(refused, 403, 'origin_not_allowed', 'origin');
    }

    const get = (origin: string) => fetch(`${base}/v1/tasks/tiny`, { headers: { origin } });
    expect((await get('https://allowed.example')).headers.get('access-control-allow-origin')).toBe('https://allowed.example');
    for (const origin of ['https://evil.example', 'null']) {
      const refused = await get(origin);
      // Nothing a page of that origin may read, and nothing of its request echoed.
      expect(refused.headers.get('access-control-allow-origin')).toBeNull();
      expect(await refused.clone().text()).not.toContain(origin === 'null' ? '"null"' : 'evil.example');
      await expectRefusal(refused, 403, 'origin_not_allowed', 'origin');
    }
    // The SDK's code is public, like the npm package: any page may load it and then learn from the API that it may not take part.
    const sdk = await fetch(`${base}/sdk/covey.js`, { headers: { origin: 'https://evil.example' } });
    expect(sdk.status).toBe(200);
    expect(sdk.headers.get('access-control-allow-origin')).toBe('*');
    // The coordinator's own pages are same-origin.
    expect((await get(base)).status).toBe(200);
    // A path that is not a valid escape is a client error, not a server error.
    for (const method of ['GET', 'DELETE']) {
      const undecodable = await fetch(`${base}/v1/tasks/%E0`, { method, headers: { origin: 'https://evil.example' } });
      expect(undecodable.status, `${method}: ${await undecodable.text()}`).toBeLessThan(500);
    }
    // Without COVEY_TRUST_PROXY, a forwarded scheme is not believed: https is another origin than this http.
    const spoofed = await fetch(`${base}/v1/tasks/tiny`, { headers: { origin: base.replace('http:', 'https:'), 'x-forwarded-proto': 'https' } });
    await expectRefusal(spoofed, 403, 'origin_not_allowed');
  });

  it('answers only to its own host names, so a rebound DNS name gets nothing', async () => {
    const { port } = new URL(base);
    const asEvil = (path: string, init: { method?: string; body?: string } = {}) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request({ hostname: '127.0.0.1', port, path, method: init.method ?? 'GET', headers: { host: `evil.example:${port}`, origin: `http://evil.example:${port}`, 'content-type': 'application/json' } }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        });
        req.on('error', reject);
        req.end(init.body);
      });
    for (const [path, init] of [['/v1/tasks/tiny/enrol', { method: 'POST', body: JSON.stringify({ clientId: 'client-rebound' }) }], ['/v1/tasks/tiny', {}], ['/', {}]] as const) {
      const answer = await asEvil(path, init);
      expect(answer.status, path).toBe(421);
      expect(JSON.parse(answer.body)).toMatchObject({ error: { code: 'unknown_host', field: 'host' } });
      expect(answer.body).not.toContain('evil.example');
    }
    expect((await asEvil('/healthz')).status).toBe(200);
  });

  it('exposes Prometheus metrics: updates accepted and refused by reason, latencies, round gauges', async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toContain('# TYPE covey_updates_accepted_total counter');
    expect(text).toMatch(/^covey_updates_accepted_total\{task="tiny"\} 1$/m);
    expect(text).toMatch(/^covey_updates_refused_total\{task="tiny",reason="invalid_frame"\} \d+$/m);
    // Refusals before the update is read (token, size, content type) are counted too.
    expect(text).toMatch(/^covey_updates_refused_total\{task="tiny",reason="token_required"\} 1$/m);
    expect(text).toMatch(/^covey_updates_refused_total\{task="tiny",reason="body_too_large"\} 1$/m);
    expect(text).toMatch(/^covey_round_received_updates\{task="tiny"\} 1$/m);
    expect(text).toMatch(/^covey_http_request_duration_seconds_bucket\{le="\+Inf",method="PUT",route="\/v1\/tasks\/:task\/rounds\/:round\/updates\/:updateId",status="4xx"\} \d+$/m);
    expect(text).toMatch(/^covey_process_resident_memory_bytes \d+$/m);
    // The one accepted update was all zeros: norm 0, in every bucket.
    expect(text).toMatch(/^covey_update_norm_bucket\{le="0.01",task="tiny"\} 1$/m);
    expect(text).toMatch(/^covey_update_norm_count\{task="tiny"\} 1$/m);
  });

  it('sends security headers, and a CSP on pages', async () => {
    const res = await fetch(`${base}/healthz`);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('content-security-policy')).toBeNull();

    const page = await fetch(`${base}/`);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = new Map((page.headers.get('content-security-policy') ?? '').split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name!, values]));
    // Only the app's own origin, for everything; WebAssembly may compile (TF.js's wasm backend), inline scripts may not run.
    expect(csp.get('default-src')).toEqual(["'self'"]);
    expect(csp.get('script-src')).toEqual(["'self'", "'wasm-unsafe-eval'"]);
    expect(csp.get('connect-src')).toEqual(["'self'"]);
    expect(csp.get('worker-src')).toEqual(["'self'"]);
    expect(csp.get('object-src')).toEqual(["'none'"]);
    expect(csp.get('frame-ancestors')).toEqual(["'none'"]);
    expect(csp.get('base-uri')).toEqual(["'self'"]);
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('rate-limits a client that checks in too often, with Retry-After', async () => {
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    const hasty = await authHeaders(base, 'hasty-client', 'tiny'); // enrolling spends none of its 20 check-ins
    for (let i = 0; i < 25; i++) {
      const res = await fetch(`${base}/v1/tasks/tiny/checkin`, { method: 'POST', headers: { 'content-type': 'application/json', ...hasty }, body: JSON.stringify({ clientId: 'hasty-client', exampleCount: 5 }) });
      statuses.push(res.status);
      if (res.status === 429) {
        retryAfter = res.headers.get('retry-after');
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe('rate_limited');
      } else await res.body?.cancel();
    }
    expect(statuses.slice(0, 20).every((s) => s === 200)).toBe(true);
    expect(statuses.slice(20)).toContain(429);
    expect(Number(retryAfter)).toBeGreaterThan(0);
  });

  it('serves the evaluated history', async () => {
    await c.evaluated();
    const history = (await (await fetch(`${base}/v1/tasks/tiny/history`)).json()) as { version: number; accuracy: number }[];
    expect(history[0]).toMatchObject({ version: 0 });
    expect(history[0]!.accuracy).toBeGreaterThanOrEqual(0);
  });
});

describe('admission control and reverse proxies', () => {
  let d: Coordinator;
  let dbase: string;
  beforeAll(async () => {
    ({ coordinator: d, base: dbase } = await startTestCoordinator(undefined, { limits: { ...DEFAULT_LIMITS, maxInFlightUploads: 1 }, trustProxy: true, hosts: hostPolicy(['https://covey.example']) }));
  });
  afterAll(() => d.close());

  const inFlight = async () => Number(/^covey_uploads_in_flight (\d+)$/m.exec(await (await fetch(`${dbase}/metrics`)).text())?.[1]);

  it('gives back the slot of an upload abandoned mid-body, and refuses while busy with headers a page can read', async () => {
    const { hostname, port } = new URL(dbase);
    const token = await authHeaders(dbase, 'client-abandons', 'tiny');
    const abandoned = request({ hostname, port, method: 'PUT', path: '/v1/tasks/tiny/rounds/1/updates/update-abandoned', headers: { 'content-type': 'application/octet-stream', 'content-length': '1000', ...token } });
    abandoned.on('error', () => undefined);
    abandoned.write(Buffer.alloc(10));
    await expect.poll(inFlight).toBe(1);

    const origin = 'https://allowed.example';
    const busyToken = await authHeaders(dbase, 'client-busy1', 'tiny');
    const busy = await fetch(`${dbase}/v1/tasks/tiny/rounds/1/updates/update-busy1`, { method: 'PUT', headers: { origin, 'content-type': 'application/octet-stream', 'x-forwarded-for': '198.51.100.9', ...busyToken }, body: new Uint8Array(8) });
    expect(busy.headers.get('access-control-allow-origin')).toBe(origin);
    expect(busy.headers.get('access-control-expose-headers')).toBe('retry-after');
    expect(Number(busy.headers.get('retry-after'))).toBeGreaterThan(0);
    await expectRefusal(busy, 503, 'busy');

    abandoned.destroy();
    await expect.poll(inFlight).toBe(0);
    const auth = await authHeaders(dbase, 'client-after', 'tiny');
    const res = await fetch(`${dbase}/v1/tasks/tiny/rounds/1/updates/update-after1`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', ...auth }, body: updateFrame('client-after', new Float32Array(TINY_PARAMS)) });
    expect(res.status).toBe(200);
    expect(await inFlight()).toBe(0);
    expect(await (await fetch(`${dbase}/metrics`)).text()).toMatch(/^covey_updates_refused_total\{task="tiny",reason="busy"\} 1$/m);
  });

  it('behind a trusted proxy, the app served over https is its own origin', async () => {
    const httpsOrigin = dbase.replace('http:', 'https:');
    const enrol = (headers: Record<string, string>) =>
      fetch(`${dbase}/v1/tasks/tiny/enrol`, { method: 'POST', headers: { origin: httpsOrigin, 'content-type': 'application/json', ...headers }, body: JSON.stringify({ clientId: 'client-proxied' }) });
    expect((await enrol({ 'x-forwarded-proto': 'https' })).status).toBe(200);
    await expectRefusal(await enrol({}), 403, 'origin_not_allowed');
    // A proxy that passes its own name as Host and the public one as X-Forwarded-Host.
    const publicOrigin = 'https://covey.example';
    const res = await fetch(`${dbase}/v1/tasks/tiny/enrol`, {
      method: 'POST',
      headers: { origin: publicOrigin, 'x-forwarded-proto': 'https', 'x-forwarded-host': 'covey.example', 'content-type': 'application/json' },
      body: JSON.stringify({ clientId: 'client-proxied' }),
    });
    expect(res.status).toBe(200);
  });
});

describe('slow connections', () => {
  let d: Coordinator;
  let dbase: string;
  const limits = { ...DEFAULT_LIMITS, maxInFlightUploads: 3, maxUploadsPerIp: 2, bodyTimeoutMs: 2_000, bodyGraceMs: 500, minBodyBytesPerSecond: 200 };
  beforeAll(async () => {
    // Behind a "proxy" (trusted), so that X-Forwarded-For gives each simulated person an address of their own.
    const appDir = mkdtempSync(join(tmpdir(), 'covey-app-'));
    writeFileSync(join(appDir, 'big.bin'), Buffer.alloc(16 * 1024 * 1024, 7));
    ({ coordinator: d, base: dbase } = await startTestCoordinator(undefined, { limits, trustProxy: true, appDir }));
  });
  afterAll(() => d.close());

  const inFlight = async () => Number(/^covey_uploads_in_flight (\d+)$/m.exec(await (await fetch(`${dbase}/metrics`)).text())?.[1]);

  /** An upload that declares 1,000 bytes and trickles one every 300 ms; resolves with the answer it gets. */
  function trickle(address: string, id: string, headers: Record<string, string> = {}): { answer: Promise<{ status: number; body: string }>; stop(): void } {
    const { hostname, port } = new URL(dbase);
    const req = request({ hostname, port, method: 'PUT', path: `/v1/tasks/tiny/rounds/1/updates/${id}`, headers: { 'content-type': 'application/octet-stream', 'content-length': '1000', 'x-forwarded-for': address, ...headers } });
    const timer = setInterval(() => req.write(Buffer.alloc(1)), 300);
    const stop = () => {
      clearInterval(timer);
      req.destroy();
    };
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      req.on('response', (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => {
          clearInterval(timer);
          resolve({ status: res.statusCode!, body });
        });
      });
      req.on('error', (e) => (req.destroyed ? undefined : reject(e)));
    });
    req.write(Buffer.alloc(1));
    return { answer, stop };
  }

  it('gives the slot of a pipelined upload back although the client never reads the answers before it', async () => {
    const token = await authHeaders(dbase, 'client-pipes', 'tiny');
    const { port } = new URL(dbase);
    const frame = Buffer.from(updateFrame('client-pipes', new Float32Array(TINY_PARAMS)));
    const put = (id: string) => `PUT /v1/tasks/tiny/rounds/1/updates/${id} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-For: 203.0.113.77\r\nAuthorization: ${token.authorization}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${frame.byteLength}\r\n\r\n`;
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.pause(); // never read: the big answer first in line can never finish
    socket.write(Buffer.concat([Buffer.from('GET /big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'), Buffer.from(put('update-pipe01')), frame, Buffer.from(put('update-pipe02')), frame]));
    await expect.poll(async () => (await fetch(`${dbase}/v1/tasks/tiny`)).ok).toBe(true);
    await expect.poll(inFlight, { timeout: 5_000 }).toBe(0);
    socket.destroy();
    await expect.poll(inFlight).toBe(0);
  });

  it('holds no slot for a tokenless body, at most a few per address, cuts off slow bodies, and lets honest uploads through meanwhile', { timeout: 15_000 }, async () => {
    // Slow bodies without a token are refused before their body is read, holding nothing.
    const tokenless = Array.from({ length: 8 }, (_, i) => trickle(`203.0.113.${i + 1}`, `update-nokey${i}`));
    for (const t of tokenless) expect((await t.answer).status).toBe(401);
    expect(await inFlight()).toBe(0);

    // With a token, one address holds at most two slots.
    const token = await authHeaders(dbase, 'client-slow1', 'tiny');
    const slow = [trickle('203.0.113.50', 'update-slow01', token), trickle('203.0.113.50', 'update-slow02', token)];
    await expect.poll(inFlight).toBe(2);
    const third = trickle('203.0.113.50', 'update-slow03', token);
    const refused = await third.answer;
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.body)).toMatchObject({ error: { code: 'too_many_uploads' } });

    // An honest upload from elsewhere gets through while they trickle.
    const honest = await authHeaders(dbase, 'client-honest', 'tiny');
    const ok = await fetch(`${dbase}/v1/tasks/tiny/rounds/1/updates/update-honest1`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'x-forwarded-for': '198.51.100.1', ...honest },
      body: updateFrame('client-honest', new Float32Array(TINY_PARAMS)),
    });
    expect(ok.status).toBe(200);

    // The slow bodies are cut off (408, the API's error shape) and their slots come back.
    for (const s of slow) {
      const answer = await s.answer;
      expect(answer.status).toBe(408);
      expect(JSON.parse(answer.body)).toMatchObject({ error: { code: 'body_timeout', field: 'body' } });
    }
    await expect.poll(inFlight).toBe(0);
    for (const t of [...tokenless, ...slow, third]) t.stop();
    expect(d.store.hasClientUpdate('tiny', 1, 'client-honest')).toBe(true);
    expect(d.store.hasClientUpdate('tiny', 1, 'client-slow1')).toBe(false);
  });
});

describe('logs', () => {
  it('logs a busy refusal as a warning without a stack trace', async () => {
    const lines: Record<string, unknown>[] = [];
    const stream = { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) };
    const { coordinator: d, base: dbase } = await startTestCoordinator(undefined, { limits: { ...DEFAULT_LIMITS, maxInFlightUploads: 1 }, logger: { level: 'info', stream } });
    try {
      const { hostname, port } = new URL(dbase);
      const holder = request({ hostname, port, method: 'PUT', path: '/v1/tasks/tiny/rounds/1/updates/update-holds1', headers: { 'content-type': 'application/octet-stream', 'content-length': '1000', ...(await authHeaders(dbase, 'client-holds', 'tiny')) } });
      holder.on('error', () => undefined);
      holder.write(Buffer.alloc(10));
      await expect.poll(async () => (await fetch(`${dbase}/metrics`)).text()).toMatch(/^covey_uploads_in_flight 1$/m);
      const busy = await fetch(`${dbase}/v1/tasks/tiny/rounds/1/updates/update-busy2`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', ...(await authHeaders(dbase, 'client-busy2', 'tiny')) }, body: new Uint8Array(8) });
      expect(busy.status).toBe(503);
      holder.destroy();
      const logged = lines.find((l) => l.code === 'busy');
      expect(logged).toMatchObject({ level: 40, msg: expect.stringContaining('busy') });
      expect(JSON.stringify(logged)).not.toContain('stack');
      expect(lines.some((l) => (l.level as number) >= 50)).toBe(false);
    } finally {
      await d.close();
    }
  });
});

describe('a task without a held-out set', () => {
  it('runs, evaluates nothing itself, and carries the clients\' federated evaluation in its history', async () => {
    const { coordinator: d, base: dbase } = await startTestCoordinator(tinyTask({ loadTestSet: undefined, rounds: { minClients: 1, targetClients: 1, deadlineMs: 60_000 } }));
    try {
      const auth = await authHeaders(dbase, 'client-fedeval', 'tiny');
      const frame = updateFrame('client-fedeval', new Float32Array(TINY_PARAMS), { eval: { accuracy: 0.75, loss: 0.6, count: 8 } });
      expect((await fetch(`${dbase}/v1/tasks/tiny/rounds/1/updates/update-fedeval`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', ...auth }, body: frame })).status).toBe(200);
      await expect.poll(async () => ((await (await fetch(`${dbase}/v1/tasks/tiny/history`)).json()) as unknown[]).length).toBe(2);
      await d.evaluated();
      const history = (await (await fetch(`${dbase}/v1/tasks/tiny/history`)).json()) as { accuracy: number | null; federated: unknown }[];
      expect(history[0]).toMatchObject({ accuracy: null, federated: { accuracy: 0.75, loss: 0.6, examples: 8, clients: 1 } });
      expect(history[1]).toMatchObject({ accuracy: null, federated: null });
    } finally {
      await d.close();
    }
  });
});

describe('fewer bytes on the wire', () => {
  it('serves a newer version as an int8 delta from an older one, immutable, and 404 no_delta where it has none', async () => {
    const { coordinator: d, base: dbase } = await startTestCoordinator(tinyTask({ rounds: { minClients: 1, targetClients: 1, deadlineMs: 60_000 } }));
    try {
      const auth = await authHeaders(dbase, 'client-delta', 'tiny');
      const change = Float32Array.from({ length: TINY_PARAMS }, (_, i) => (i - 7) / 100);
      expect((await fetch(`${dbase}/v1/tasks/tiny/rounds/1/updates/update-delta`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', ...auth }, body: updateFrame('client-delta', change) })).status).toBe(200);
      await expect.poll(() => d.tasks.get('tiny')!.federation.modelVersion).toBe(1);
      const res = await fetch(`${dbase}/v1/tasks/tiny/models/1/delta-from/0`);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toContain('immutable');
      expect(res.headers.get('content-type')).toBe('application/octet-stream');
      const frame = new Uint8Array(await res.arrayBuffer());
      const { header, body } = decodeModelDelta(frame, { from: 0, to: 1, parameterCount: TINY_PARAMS });
      expect([header.codecId, header.compression]).toEqual([int8.id, 'deflate']);
      const applied = applyModelDelta(d.store.modelVector('tiny', 0)!, int8.decode(inflateRawSync(body), TINY_PARAMS));
      const v1 = d.store.modelVector('tiny', 1)!;
      // Each value within its chunk's scale: max |change| / 127.
      applied.forEach((w, i) => expect(Math.abs(w - v1[i]!)).toBeLessThanOrEqual(0.08 / 127 + 1e-6));
      // The same bytes every time: cacheable as a version is.
      expect(new Uint8Array(await (await fetch(`${dbase}/v1/tasks/tiny/models/1/delta-from/0`)).arrayBuffer())).toEqual(frame);
      // The operator sees the bytes each way: the deltas sent (twice, one frame's length each) and the update received.
      const metrics = await (await fetch(`${dbase}/metrics`)).text();
      expect(metrics).toContain(`covey_model_bytes_sent_total{task="tiny",kind="delta"} ${2 * frame.byteLength}`);
      expect(metrics).toMatch(/covey_update_bytes_total\{task="tiny",codec="f32"\} \d+/);
      await expectRefusal(await fetch(`${dbase}/v1/tasks/tiny/models/1/delta-from/1`), 404, 'no_delta', 'from');
      await expectRefusal(await fetch(`${dbase}/v1/tasks/tiny/models/0/delta-from/1`), 404, 'no_delta', 'from');
      await expectRefusal(await fetch(`${dbase}/v1/tasks/tiny/models/2/delta-from/1`), 404, 'unknown_version', 'version');
      await expectRefusal(await fetch(`${dbase}/v1/tasks/tiny/models/1/delta-from/0x0`), 400, 'bad_version', 'from');
      await expectRefusal(await fetch(`${dbase}/v1/tasks/tiny/models/1/delta-from/0?lineage=other`), 404, 'unknown_version', 'lineage');
      // Once version 2 is out, deltas lead to it only: an older target is the whole model's business.
      expect((await fetch(`${dbase}/v1/tasks/tiny/rounds/2/updates/update-delta-2`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', ...auth }, body: updateFrame('client-delta', change, { baseVersion: 1 }) })).status).toBe(200);
      await expect.poll(() => d.tasks.get('tiny')!.federation.modelVersion).toBe(2);
      await expectRefusal(await fetch(`${dbase}/v1/tasks/tiny/models/1/delta-from/0`), 404, 'no_delta', 'from');
      expect((await fetch(`${dbase}/v1/tasks/tiny/models/2/delta-from/0`)).status).toBe(200);
    } finally {
      await d.close();
    }
  });

  it('compresses text on the wire, not weights', async () => {
    const appDir = mkdtempSync(join(tmpdir(), 'covey-app-'));
    writeFileSync(join(appDir, 'index.html'), '<!doctype html><title>Covey</title>');
    writeFileSync(join(appDir, 'big.js'), `export const x = ${JSON.stringify('covey '.repeat(2000))};`);
    const { coordinator: d, base: dbase } = await startTestCoordinator(undefined, { appDir });
    const encodingOf = async (path: string, init: RequestInit = {}) => {
      // Node's fetch always sends accept-encoding and decodes; a raw request shows what travelled.
      const { hostname, port } = new URL(dbase);
      return new Promise<string | undefined>((resolve, reject) => {
        const req = request({ hostname, port, path, method: init.method ?? 'GET', headers: { 'accept-encoding': 'gzip, br', ...(init.headers as Record<string, string>) } }, (res) => {
          res.resume();
          resolve(res.headers['content-encoding']);
        });
        req.on('error', reject);
        req.end(init.body as string | undefined);
      });
    };
    try {
      expect(await encodingOf('/big.js')).toMatch(/^(br|gzip)$/);
      expect(await encodingOf('/v1/tasks/tiny/models/0/weights.bin')).toBeUndefined();
    } finally {
      await d.close();
    }
  });
});
