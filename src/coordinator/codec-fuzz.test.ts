/**
 * The fuzz test's codec half: for each codec a task can name, a real coordinator on loopback and hundreds of
 * seeded payloads that are invalid by construction (truncated, extended, another codec's id, values and
 * counts out of range, indices past the model, non-finite values and scales, varints too long). Each must be
 * refused with a 4xx naming the problem before it touches the aggregate; a valid update in the same codec is
 * accepted, and the model and round hold exactly it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { viewOf, type Codec } from '../core/codec.ts';
import { codecFor } from '../core/codecs/index.ts';
import { createRng } from '../core/rng.ts';
import { frameWithPayload } from '../core/update-frame.ts';
import { authHeaders } from '../../e2e/coordinator.ts';
import type { Coordinator } from './coordinator.ts';
import { TINY_PARAMS, startTestCoordinator, tinyTask } from './test-fixtures.ts';

const rng = createRng(1010);
const int = (max: number) => Math.floor(rng() * max);
const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
const delta = () => Float32Array.from({ length: TINY_PARAMS }, () => rng() - 0.5);

type Breaker = (codec: Codec) => { kind: string; payload: Uint8Array; id?: number };

/** Ways to break a payload of any codec. */
const anyCodec: Breaker[] = [
  (c) => {
    const p = c.encode(delta(), rng);
    return { kind: 'truncated', payload: p.subarray(0, int(p.byteLength)) };
  },
  (c) => ({ kind: 'extended', payload: new Uint8Array([...c.encode(delta(), rng), ...Array.from({ length: 1 + int(16) }, () => int(256))]) }),
  (c) => ({ kind: 'another codec id', payload: c.encode(delta(), rng), id: pick([0, 1, 2, 3, 4].filter((i) => i !== c.id)) }),
  (c) => ({ kind: 'oversized', payload: new Uint8Array(c.maxEncodedBytes(TINY_PARAMS) + 1 + int(10_000)) }),
];

const setFloat = (p: Uint8Array, at: number, v: number) => (viewOf(p).setFloat32(at, v, true), p);

/** Ways to break a payload of one codec, each invalid by that codec's rules. */
const perCodec: Record<string, Breaker[]> = {
  f16: [(c) => {
    const p = c.encode(delta());
    viewOf(p).setUint16(2 * int(TINY_PARAMS), pick([0x7c00, 0xfc00, 0x7e00, 0x7fff]), true);
    return { kind: 'f16 infinity or NaN', payload: p };
  }],
  int8: [
    (c) => ({ kind: 'int8 bad chunk size', payload: (() => { const p = c.encode(delta(), rng); viewOf(p).setUint32(0, pick([0, 1, 63, 65537, 2 ** 32 - 1]), true); return p; })() }),
    (c) => ({ kind: 'int8 bad scale', payload: setFloat(c.encode(delta(), rng), 4, pick([NaN, Infinity, -1, -Infinity])) }),
    (c) => ({ kind: 'int8 −128', payload: (() => { const p = c.encode(delta(), rng); p[8 + int(TINY_PARAMS)] = 0x80; return p; })() }),
  ],
  topk: [
    () => ({ kind: 'top-k too many values', payload: new Uint8Array([5 + int(200), 0, 0, 0, ...new Uint8Array(64)]) }),
    () => ({ kind: 'top-k index past the model', payload: new Uint8Array([1, 0, 0, 0, TINY_PARAMS + int(100), ...new Uint8Array(4)]) }),
    () => ({ kind: 'top-k varint too long', payload: new Uint8Array([1, 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, ...new Uint8Array(4)]) }),
    () => ({ kind: 'top-k non-finite value', payload: setFloat(new Uint8Array([1, 0, 0, 0, int(TINY_PARAMS), 0, 0, 0, 0]), 5, pick([NaN, Infinity, -Infinity])) }),
  ],
  'topk-int8': [
    () => ({ kind: 'top-k int8 too many values', payload: new Uint8Array([5 + int(200), 0, 0, 0, 0, 0, 0x80, 0x3f, ...new Uint8Array(64)]) }),
    () => ({ kind: 'top-k int8 bad scale', payload: setFloat(new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0, int(TINY_PARAMS), 1]), 4, pick([NaN, Infinity, -1])) }),
    () => ({ kind: 'top-k int8 −128', payload: new Uint8Array([1, 0, 0, 0, 0, 0, 0x80, 0x3f, int(TINY_PARAMS), 0x80]) }),
    () => ({ kind: 'top-k int8 index past the model', payload: new Uint8Array([1, 0, 0, 0, 0, 0, 0x80, 0x3f, TINY_PARAMS + int(50), 1]) }),
  ],
};

const running: Coordinator[] = [];
afterAll(() => running.forEach((c) => c.close()));

describe.each(['f16', 'int8', 'topk:0.25', 'topk-int8:0.25'])('codec fuzz: %s', (name) => {
  it('refuses every malformed payload with a 4xx naming it, and accepts a valid one', { timeout: 60_000 }, async () => {
    const codec = codecFor(name)!;
    const task = tinyTask({ training: { ...tinyTask().training, codec: name } });
    const { coordinator, base } = await startTestCoordinator(task);
    running.push(coordinator);
    const auth = await authHeaders(base, 'attacker-client', 'tiny');
    const put = (id: string, body: Uint8Array) => fetch(`${base}/v1/tasks/tiny/rounds/1/updates/${id}`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', ...auth }, body: body as Uint8Array<ArrayBuffer> });
    const meta = { clientId: 'attacker-client', baseVersion: 0, numExamples: 10, loss: 0.5 };
    const breakers = [...anyCodec, ...perCodec[name.split(':')[0]!]!];
    const kinds = new Set<string>();
    for (let i = 0; i < 20 * breakers.length; i++) {
      const bad = breakers[i % breakers.length]!(codec);
      const res = await put(`atk-${i}-${int(1e9)}`, frameWithPayload({ ...codec, id: bad.id ?? codec.id }, meta, bad.payload));
      const body = (await res.json()) as { error?: { code: string; message: string } };
      const where = `${bad.kind} → ${res.status} ${JSON.stringify(body)}`;
      expect(res.status, where).toBeGreaterThanOrEqual(400);
      expect(res.status, where).toBeLessThan(500);
      expect(body.error?.code, where).toMatch(/^(invalid_frame|wrong_codec|body_too_large|non_finite)$/);
      kinds.add(bad.kind);
    }
    expect(kinds.size).toBe(breakers.length);
    const federation = coordinator.tasks.get('tiny')!.federation;
    expect(federation.summary().round!.received).toBe(0);
    // The same coordinator takes a good update in its codec, and only that one.
    const good = delta();
    const res = await put('good-update-1', frameWithPayload(codec, meta, codec.encode(good, rng)));
    expect(res.status).toBe(200);
    expect(federation.summary().round!.received).toBe(1);
  });
});
