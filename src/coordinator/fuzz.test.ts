/**
 * Fuzz: hundreds of malformed and hostile requests against a real coordinator on loopback (seeded, so a
 * failure reproduces). Each must be refused with a 4xx and a JSON reason, and none may change the model or
 * the round.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { f32 } from '../core/codecs/f32.ts';
import { createRng } from '../core/rng.ts';
import { encodeUpdateFrame, type UpdateMeta } from '../core/update-frame.ts';
import { DEFAULT_LIMITS } from './admission.ts';
import type { Coordinator } from './coordinator.ts';
import { enrolmentProof, makeSigningKey } from '../client/client-key.ts';
import { authHeaders, clientKey } from '../../e2e/coordinator.ts';
import { TINY_PARAMS, startTestCoordinator, tinyTask } from './test-fixtures.ts';

let c: Coordinator;
let base: string;
/** Tokens: the attacker enrols like anyone; the honest client's is stolen for one attack. */
const auth: Record<'attacker' | 'honest', Record<string, string>> = { attacker: {}, honest: {} };
/** The attacker's own key pair, and a challenge it was given (and signed) for its own id. */
let attackerKey: CryptoKeyPair;
const rng = createRng(424242);
const pick = <T>(items: readonly T[]): T => items[Math.floor(rng() * items.length)]!;
const int = (max: number) => Math.floor(rng() * max);

beforeAll(async () => {
  // Rate limits raised, so that each attack meets the check it is aimed at rather than a 429.
  const limits = { ...DEFAULT_LIMITS, ipBurst: 100_000, clientBurst: 100_000, enrolmentsPerIpPerHour: 100_000 };
  ({ coordinator: c, base } = await startTestCoordinator(tinyTask({ maxUpdateNorm: 100 }), { limits }));
  auth.attacker = await authHeaders(base, 'attacker-client', 'tiny');
  auth.honest = await authHeaders(base, 'honest-client', 'tiny');
  attackerKey = await clientKey('attacker-client');
  // One honest update, so that duplicate and second-update attacks have something to collide with.
  await fetch(`${base}/v1/tasks/tiny/checkin`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth.honest }, body: JSON.stringify({ clientId: 'honest-client', exampleCount: 5 }) });
  const ok = await put('/v1/tasks/tiny/rounds/1/updates/honest-update', frame({ clientId: 'honest-client' }, new Float32Array(TINY_PARAMS).fill(0.01)), auth.honest);
  expect(ok.status).toBe(200);
});
afterAll(() => c.close());

interface Attack {
  kind: string;
  method: string;
  path: string;
  body?: BodyInit;
  type?: string;
  /** Headers instead of the attacker's own valid token. */
  headers?: Record<string, string>;
}

function frame(meta: Partial<UpdateMeta>, delta: Float32Array): Uint8Array<ArrayBuffer> {
  return encodeUpdateFrame(f32, { clientId: 'attacker-client', baseVersion: 0, numExamples: 10, loss: 0.5, ...meta }, delta);
}

const goodDelta = () => new Float32Array(TINY_PARAMS).map(() => rng() - 0.5);
const uploadPath = (round: string | number = 1, id = `atk-${int(1e9)}`) => `/v1/tasks/tiny/rounds/${round}/updates/${id}`;

/** One hostile request of each kind; called many times, each time with fresh random details. */
const attacks: (() => Attack | Promise<Attack>)[] = [
  () => ({ kind: 'truncated frame', method: 'PUT', path: uploadPath(), body: frame({}, goodDelta()).subarray(0, int(40 + TINY_PARAMS * 4)) }),
  () => ({ kind: 'wrong shape', method: 'PUT', path: uploadPath(), body: frame({}, new Float32Array(pick([0, 1, TINY_PARAMS - 1, TINY_PARAMS + 1, 1000]))) }),
  () => {
    const d = goodDelta();
    d[int(d.length)] = pick([NaN, Infinity, -Infinity]);
    return { kind: 'NaN or Inf', method: 'PUT', path: uploadPath(), body: frame({}, d) };
  },
  () => ({ kind: 'huge norm', method: 'PUT', path: uploadPath(), body: frame({}, goodDelta().map((v) => v * 1e6)) }),
  () => ({ kind: 'wrong round', method: 'PUT', path: uploadPath(pick([0, -1, 2, 999, 'abc', '1.5', '1e3'])), body: frame({}, goodDelta()) }),
  () => ({ kind: 'stale base version', method: 'PUT', path: uploadPath(), body: frame({ baseVersion: 1 + int(50) }, goodDelta()) }),
  () => ({ kind: 'reused update id from another client', method: 'PUT', path: uploadPath(1, 'honest-update'), body: frame({}, goodDelta()) }),
  () => ({ kind: 'second update from one client', method: 'PUT', path: uploadPath(), body: frame({ clientId: 'honest-client' }, goodDelta()), headers: auth.honest }),
  () => ({ kind: 'update as another client', method: 'PUT', path: uploadPath(), body: frame({ clientId: 'honest-client' }, goodDelta()) }),
  () => ({ kind: 'missing token', method: pick(['PUT', 'POST']), path: pick([uploadPath(), '/v1/tasks/tiny/checkin']), body: frame({}, goodDelta()), headers: {} }),
  () => {
    const [payload, mac] = auth.attacker.authorization!.slice(7).split('.') as [string, string];
    const forged = pick([
      `Bearer ${Buffer.from(JSON.stringify({ t: 'tiny', c: 'honest-client', exp: Date.now() + 1e7 })).toString('base64url')}.${mac}`,
      `Bearer ${payload}.${mac.slice(0, -2)}xx`,
      `Bearer ${payload}`,
      'Basic YWRtaW46YWRtaW4=',
      `Bearer ${'A'.repeat(int(3000))}.${'B'.repeat(int(100))}`,
    ]);
    return { kind: 'forged or malformed token', method: 'PUT', path: uploadPath(), body: frame({}, goodDelta()), headers: { authorization: forged } };
  },
  () => ({ kind: 'bad update id', method: 'PUT', path: uploadPath(1, pick(['x', 'a b c d e f g h', '%00%00%00%00%00%00%00%00', 'é'.repeat(10), 'y'.repeat(80)])), body: frame({}, goodDelta()) }),
  () => ({ kind: 'oversized body', method: 'PUT', path: uploadPath(), body: new Uint8Array(64_000 + int(2_000_000)) }),
  () => ({ kind: 'wrong content type', method: 'PUT', path: uploadPath(), body: frame({}, goodDelta()), type: pick(['text/plain', 'application/json', 'multipart/form-data', 'image/png']) }),
  () => {
    const f = frame({}, goodDelta());
    f[int(8)] ^= 0xff; // magic, version, codec or reserved bytes
    return { kind: 'corrupt header', method: 'PUT', path: uploadPath(), body: f };
  },
  () => ({ kind: 'bad metadata', method: 'PUT', path: uploadPath(), body: frame(pick([{ numExamples: -5 }, { numExamples: 0 }, { loss: -1 }, { clientId: 'x' }, { numExamples: 1.5 }, { accuracy: 7 }]) as Partial<UpdateMeta>, goodDelta()) }),
  () => ({ kind: 'random bytes', method: 'PUT', path: uploadPath(), body: Uint8Array.from({ length: int(500) }, () => int(256)) }),
  () => ({ kind: 'bad check-in', method: 'POST', path: '/v1/tasks/tiny/checkin', type: 'application/json', body: pick(['', '{', 'null', '[]', '{"clientId":"short","exampleCount":1}', '{"clientId":"attacker-client","exampleCount":-1}', '{"clientId":"attacker-client","exampleCount":"many"}', '{"clientId":7}', '{"clientId":"honest-client","exampleCount":1}', JSON.stringify({ clientId: 'z'.repeat(100), exampleCount: 1 })]) }),
  () => ({ kind: 'bad enrolment', method: 'POST', path: `/v1/tasks/${pick(['tiny', 'nope'])}/enrol`, type: 'application/json', body: pick(['{}', '{"clientId":"x"}', '[]', 'null', '{"clientId":"' + 'q'.repeat(70) + '"}']) }),
  () => ({ kind: 'huge check-in', method: 'POST', path: '/v1/tasks/tiny/checkin', type: 'application/json', body: JSON.stringify({ clientId: 'ok-client-1', exampleCount: 1, pad: 'x'.repeat(100_000 + int(100_000)) }) }),
  () => ({ kind: 'unknown task', method: pick(['GET', 'POST']), path: `/v1/tasks/${pick(['nope', '..', '%2e%2e', 'tiny2'])}/checkin`, type: 'application/json', body: '{"clientId":"ok-client-1","exampleCount":1}' }),
  () => ({ kind: 'unknown model version', method: 'GET', path: `/v1/tasks/tiny/models/${pick(['1', '99', '-1', 'x', '1.5'])}/model.json` }),
  () => ({ kind: 'unknown route', method: pick(['GET', 'DELETE', 'PATCH']), path: pick(['/v1/tasks/tiny/rounds/1', '/v1/admin', '/v1/tasks/tiny/rounds/1/updates/abcdefgh', '/.env']) }),
  // Identity: enrolling as someone else, whose id is known but whose key is not.
  () => ({ kind: 're-enrolment without the key', method: 'POST', path: '/v1/tasks/tiny/enrol', type: 'application/json', body: JSON.stringify({ clientId: 'honest-client' }), headers: {} }),
  async () => {
    const { challenge } = (await (await fetch(`${base}/v1/tasks/tiny/enrol/challenge`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"clientId":"honest-client"}' })).json()) as { challenge: string };
    const key = pick([attackerKey, await makeSigningKey()]);
    return { kind: 're-enrolment signed with another key', method: 'POST', path: '/v1/tasks/tiny/enrol', type: 'application/json', body: JSON.stringify({ clientId: 'honest-client', proof: await enrolmentProof(key, challenge) }), headers: {} };
  },
  async () => {
    // The attacker signs a challenge of its own (or a token, or garbage) and presents it for the honest id.
    const own = (await (await fetch(`${base}/v1/tasks/tiny/enrol/challenge`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"clientId":"attacker-client"}' })).json()) as { challenge: string };
    const challenge = pick([own.challenge, auth.attacker.authorization!.slice(7), 'x.y', `${own.challenge.split('.')[0]}.${'A'.repeat(43)}`]);
    return { kind: 'enrolment with a foreign or forged challenge', method: 'POST', path: '/v1/tasks/tiny/enrol', type: 'application/json', body: JSON.stringify({ clientId: 'honest-client', proof: await enrolmentProof(attackerKey, challenge) }), headers: {} };
  },
  async () => {
    const good = await enrolmentProof(attackerKey, 'x.y');
    const proof = pick([
      { ...good, publicKey: { ...good.publicKey, kty: 'RSA' } },
      { ...good, publicKey: { ...good.publicKey, crv: 'P-384' } },
      { ...good, publicKey: { ...good.publicKey, x: 'A'.repeat(44) } },
      { ...good, signature: good.signature.slice(0, 80) },
      { ...good, signature: 123 },
      { publicKey: good.publicKey },
      'proof',
    ]);
    return { kind: 'malformed proof', method: 'POST', path: '/v1/tasks/tiny/enrol', type: 'application/json', body: JSON.stringify({ clientId: 'honest-client', proof }), headers: {} };
  },
  // Parsing: ids and versions are strict decimal integers, metadata numbers are bounded.
  () => ({ kind: 'non-decimal model version', method: 'GET', path: `/v1/tasks/tiny/models/${pick(['0x0', '0x1', '0.0', '7.0', '%200%20', '0b0', '00', '+0', '-0', '0e0'])}/${pick(['model.json', 'weights.bin'])}` }),
  () => ({ kind: 'non-decimal round', method: 'PUT', path: uploadPath(pick(['0x1', '1.0', '%201%20', '0b1', '01', '+1', '1e0'])), body: frame({}, goodDelta()) }),
  () => ({ kind: 'metadata out of range', method: 'PUT', path: uploadPath(), body: frame(pick([{ loss: 1e308 }, { loss: 1e5 }, { trainMs: 1e300 }, { numExamples: 1e7 + 1 }, { baseVersion: 2 ** 31 }, { backend: 'b'.repeat(65) }, { lineage: 'l\u0000' }]) as Partial<UpdateMeta>, goodDelta()) }),
];

async function put(path: string, body: BodyInit, headers: Record<string, string>): Promise<Response> {
  return fetch(base + path, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', ...headers }, body });
}

async function send(a: Attack): Promise<Response> {
  const body = a.method === 'GET' ? undefined : a.body;
  const headers: Record<string, string> = { ...(a.headers ?? auth.attacker), ...(body === undefined ? {} : { 'content-type': a.type ?? 'application/octet-stream' }) };
  return fetch(base + a.path, { method: a.method, headers, body });
}

describe('fuzz', () => {
  it(`refuses ${14 * attacks.length} hostile requests of ${attacks.length} kinds with a 4xx and a reason, and nothing changes`, { timeout: 60_000 }, async () => {
    const before = { summary: c.tasks.get('tiny')!.federation.summary(), weights: c.store.latestVersion('tiny')!.weights };
    const counts = new Map<string, number>();
    for (let i = 0; i < 14 * attacks.length; i++) {
      const attack = await attacks[i % attacks.length]!();
      const res = await send(attack);
      const body = (await res.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
      const where = `${attack.kind}: ${attack.method} ${attack.path} → ${res.status} ${JSON.stringify(body)}`;
      expect(res.status, where).toBeGreaterThanOrEqual(400);
      expect(res.status, where).toBeLessThan(500);
      expect(body?.error?.code, where).toMatch(/^[a-z_]+$/);
      expect(body?.error?.message?.length, where).toBeGreaterThan(0);
      counts.set(attack.kind, (counts.get(attack.kind) ?? 0) + 1);
    }
    expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(14 * attacks.length);
    const after = c.tasks.get('tiny')!.federation.summary();
    expect(after).toEqual(before.summary);
    expect(c.store.latestVersion('tiny')!.weights).toEqual(before.weights);
    expect(c.store.countUpdates('tiny', 1)).toBe(1);
    // The honest client's key is still the one registered, and it alone enrols that id.
    expect(JSON.parse(c.store.clientKey('honest-client')!)).toMatchObject({ x: (await crypto.subtle.exportKey('jwk', (await clientKey('honest-client')).publicKey)).x });
  });
});

describe('fuzz: a buffered task', () => {
  it('refuses updates too stale, from versions to come, repeated per buffer or under a reused id; nothing changes', { timeout: 60_000 }, async () => {
    const limits = { ...DEFAULT_LIMITS, ipBurst: 100_000, clientBurst: 100_000, enrolmentsPerIpPerHour: 100_000 };
    const buffer = { size: 2, maxStaleness: 1, staleness: { kind: 'polynomial', exponent: 0.5 } as const, concurrency: 8 };
    const started = await startTestCoordinator(tinyTask({ rounds: { minClients: 2, targetClients: 2, deadlineMs: 60_000, leaseMs: 60_000, buffer } }), { limits });
    const b = started.base;
    const tokens = new Map<string, Record<string, string>>();
    const as = async (clientId: string) => tokens.get(clientId) ?? tokens.set(clientId, await authHeaders(b, clientId, 'tiny')).get(clientId)!;
    const upload = async (clientId: string, baseVersion: number, updateId: string, round = 1, value = 0.01) =>
      fetch(`${b}/v1/tasks/tiny/rounds/${round}/updates/${updateId}`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', ...(await as(clientId)) }, body: frame({ clientId, baseVersion }, new Float32Array(TINY_PARAMS).fill(value)) });
    for (const [k, base] of [[1, 0], [2, 0], [3, 1], [4, 1], [5, 2]] as const) expect((await upload(`honest-${k}`, base, `honest-update-${k}`)).status).toBe(200);
    const fed = started.coordinator.tasks.get('tiny')!.federation;
    expect(fed.modelVersion).toBe(2);
    const before = { summary: fed.summary(), weights: started.coordinator.store.latestVersion('tiny')!.weights };
    const kinds: (() => Promise<Response>)[] = [
      () => upload('attacker-client', 0, `atk-${int(1e9)}`), // τ = 2 > 1
      () => upload('attacker-client', 3 + int(50), `atk-${int(1e9)}`, 1 + int(3)), // a version that does not exist
      () => upload('honest-5', 2, `atk-${int(1e9)}`, 3), // a second update from one client in one buffer
      () => upload('attacker-client', 2, `honest-update-${1 + int(5)}`, 1 + int(3), rng()), // someone's id, other bytes
      () => upload('attacker-client', 2, `atk-${int(1e9)}`, 4 + int(100)), // a buffer that does not exist
    ];
    for (let i = 0; i < 10 * kinds.length; i++) {
      const res = await kinds[i % kinds.length]!();
      const body = (await res.json()) as { error?: { code?: string } };
      expect(res.status, JSON.stringify(body)).toBeGreaterThanOrEqual(400);
      expect(res.status, JSON.stringify(body)).toBeLessThan(500);
      expect(body.error?.code).toMatch(/^(too_stale|stale_model|client_already_reported|update_id_reused|unknown_round|token_mismatch)$/);
    }
    expect(fed.summary()).toEqual(before.summary);
    expect(started.coordinator.store.latestVersion('tiny')!.weights).toEqual(before.weights);
    expect(started.coordinator.store.countUpdates('tiny', 3)).toBe(1);
    await started.coordinator.close();
  });
});
