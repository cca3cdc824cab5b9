import { describe, expect, it } from 'vitest';
import { SecAggClient } from './client.ts';
import { neighbourGraph, SecAggRefusal, type SecAggParams } from './protocol.ts';
import { SecAggServer } from './server.ts';

const LENGTH = 50;
/** A power-of-two scale and updates on its grid: quantization is exact, so the sum can be checked to the bit. */
const params = (over: Partial<SecAggParams> = {}): SecAggParams => ({ taskId: 'digits', roundId: 7, curve: 'auto', length: LENGTH, bound: 1, scale: 2 ** 20, minClients: 3, threshold: 0.6, neighbours: null, noiseStd: 0, ...over });
const update = (k: number) => Float32Array.from({ length: LENGTH }, (_, i) => (((k * 31 + i * 7) % 200) - 100) / 2 ** 10);

type DropAt = 'keys' | 'shares' | 'masked' | 'unmask';

/** Runs a whole round in memory; clients in `drop` stop before sending that phase's message. */
async function round(n: number, drop: Record<number, DropAt>, p = params()) {
  const server = new SecAggServer(p);
  const clients = Array.from({ length: n }, (_, k) => new SecAggClient(p, `client-${String(k).padStart(3, '0')}`));
  const live = (phase: DropAt) => clients.filter((_, k) => {
    const at = drop[k];
    const order: DropAt[] = ['keys', 'shares', 'masked', 'unmask'];
    return at === undefined || order.indexOf(at) > order.indexOf(phase);
  });
  for (const c of live('keys')) server.acceptKeys(await c.keys());
  server.closeKeys();
  if ((server.phase as string) === 'aborted') return { server, result: null, clients };
  for (const c of live('shares')) server.acceptShares(await c.shares(server.rosterFor(c.clientId)));
  server.closeShares();
  if ((server.phase as string) === 'aborted') return { server, result: null, clients };
  for (const c of live('masked')) server.acceptMasked(c.clientId, await c.maskedInput(server.inboxFor(c.clientId), update(clients.indexOf(c))));
  server.closeMasked();
  if ((server.phase as string) === 'aborted') return { server, result: null, clients };
  for (const c of live('unmask')) server.acceptUnmask(c.unmask(server.survivorsFor(c.clientId)));
  const result = await server.finish();
  return { server, result, clients };
}

/** The survivors' updates summed on the quantization grid, as integers. */
function expectedSum(indices: number[]): Int32Array {
  const out = new Int32Array(LENGTH);
  for (const k of indices) update(k).forEach((v, i) => (out[i]! += Math.round(v * 2 ** 20)));
  return out;
}

describe('secure aggregation rounds', () => {
  it('sums exactly when everyone stays: the pairwise masks cancel and the self masks come off', async () => {
    const { result, server } = await round(5, {});
    expect(result!.count).toBe(5);
    expect(result!.quantizedSum).toEqual(expectedSum([0, 1, 2, 3, 4]));
    expect(server.phase).toBe('done');
  });

  it('survives dropouts at every phase: the sum is exactly the survivors\' updates', async () => {
    // 0 never sends keys, 1 drops before sharing, 2 after sharing (its pairwise masks are rebuilt from its key), 3 after its masked input (it counts).
    const { result } = await round(10, { 0: 'keys', 1: 'shares', 2: 'masked', 3: 'unmask' });
    expect(result!.survivors).toEqual([9, 8, 7, 6]);
    expect(result!.quantizedSum).toEqual(expectedSum([3, 4, 5, 6, 7, 8, 9]));
  });

  it('aborts when too few holders are left to rebuild a secret (threshold 0.6 of 7 holders needs 5; 4 answered)', async () => {
    const { result, server } = await round(8, { 0: 'keys', 1: 'shares', 2: 'masked', 3: 'unmask' });
    expect(result).toBeNull();
    expect(server.aborted).toMatch(/too few shares to rebuild/);
  });

  it('works on X25519 and with SecAgg+ neighbourhoods', async () => {
    const { result } = await round(12, { 2: 'masked', 9: 'masked' }, params({ curve: 'X25519', neighbours: 4, minClients: 6 }));
    expect(result!.quantizedSum).toEqual(expectedSum([0, 1, 3, 4, 5, 6, 7, 8, 10, 11]));
  });

  it('aborts cleanly below the minimum at any phase, and then holds no sum', async () => {
    for (const drop of [{ 0: 'keys', 1: 'keys', 2: 'keys' }, { 0: 'masked', 1: 'masked', 2: 'masked' }, { 0: 'unmask', 1: 'unmask', 2: 'unmask' }] as Record<number, DropAt>[]) {
      const { result, server } = await round(5, drop);
      expect(result).toBeNull();
      expect(server.phase).toBe('aborted');
      expect(server.aborted).toMatch(/fewer than 3/);
      expect(server.maskedTotal.every((w) => w === 0)).toBe(true);
    }
  });

  it('the coordinator sees one client\'s masked input as noise: it differs from the quantized update everywhere', async () => {
    const p = params();
    const server = new SecAggServer(p);
    const clients = [0, 1, 2].map((k) => new SecAggClient(p, `client-${k}`));
    for (const c of clients) server.acceptKeys(await c.keys());
    server.closeKeys();
    for (const c of clients) server.acceptShares(await c.shares(server.rosterFor(c.clientId)));
    server.closeShares();
    const masked = await clients[0]!.maskedInput(server.inboxFor('client-0'), update(0));
    const plain = expectedSum([0]);
    const same = Array.from(masked).filter((w, i) => (w | 0) === plain[i]).length;
    expect(same).toBeLessThan(2);
  });

  it('refuses out-of-phase, repeated, malformed and foreign messages, with a reason', async () => {
    const p = params();
    const server = new SecAggServer(p);
    const clients = [0, 1, 2, 3].map((k) => new SecAggClient(p, `client-${k}`));
    const reason = async (fn: () => unknown) => {
      try {
        await fn();
      } catch (e) {
        if (e instanceof SecAggRefusal) return e.code;
        throw e;
      }
      return 'accepted';
    };
    const keys = await Promise.all(clients.map((c) => c.keys()));
    for (const k of keys.slice(0, 3)) server.acceptKeys(k);
    expect(await reason(() => server.acceptKeys(keys[0]!))).toBe('repeated');
    const p256 = keys[3]!.keys[0]!;
    expect(await reason(() => server.acceptKeys({ ...keys[3]!, keys: [{ ...p256, maskKey: 'AAAA' }] }))).toBe('malformed');
    expect(await reason(() => server.acceptKeys({ ...keys[3]!, keys: [{ ...p256, maskKey: p256.encryptionKey }] }))).toBe('malformed');
    expect(await reason(() => server.acceptKeys({ ...keys[3]!, keys: keys[3]!.keys.filter((k) => k.curve === 'X25519') }))).toBe('malformed'); // P-256 is required
    expect(await reason(() => server.acceptKeys({ ...keys[3]!, keys: [p256, p256] }))).toBe('malformed');
    expect(await reason(() => server.acceptMasked('client-0', new Uint32Array(LENGTH)))).toBe('wrong_phase');
    expect(await reason(() => server.rosterFor('client-0'))).toBe('wrong_phase');
    server.closeKeys();
    expect(await reason(() => server.acceptKeys(keys[3]!))).toBe('wrong_phase'); // too late
    expect(await reason(() => server.rosterFor('client-3'))).toBe('not_in_round');
    const shares = await clients[0]!.shares(server.rosterFor('client-0'));
    expect(await reason(() => server.acceptShares({ ...shares, boxes: shares.boxes.slice(1) }))).toBe('malformed');
    expect(await reason(() => server.acceptShares({ ...shares, boxes: [...shares.boxes, shares.boxes[0]!] }))).toBe('malformed');
    server.acceptShares(shares);
    expect(await reason(() => server.acceptShares(shares))).toBe('repeated'); // a replay
    for (const c of clients.slice(1, 3)) server.acceptShares(await c.shares(server.rosterFor(c.clientId)));
    server.closeShares();
    expect(await reason(() => server.acceptMasked('client-0', new Uint32Array(3)))).toBe('malformed');
    for (const c of clients.slice(0, 3)) server.acceptMasked(c.clientId, await c.maskedInput(server.inboxFor(c.clientId), update(0)));
    expect(await reason(() => server.acceptMasked('client-0', new Uint32Array(LENGTH)))).toBe('repeated');
    server.closeMasked();
    const unmask = clients[0]!.unmask(server.survivorsFor('client-0'));
    const both = { ...unmask, keyShares: [{ ...unmask.selfMaskShares[0]! }] };
    expect(await reason(() => server.acceptUnmask(both))).toBe('malformed'); // a seed and a key share of one client
    const wrongKind = { ...unmask, selfMaskShares: [], keyShares: unmask.selfMaskShares };
    expect(await reason(() => server.acceptUnmask(wrongKind))).toBe('malformed'); // a survivor's key asked for
    server.acceptUnmask(unmask);
    expect(await reason(() => server.acceptUnmask(unmask))).toBe('repeated');
  });

  it('a client refuses a coordinator that asks it to act on an inconsistent view', async () => {
    const p = params();
    const server = new SecAggServer(p);
    const clients = [0, 1, 2].map((k) => new SecAggClient(p, `client-${k}`));
    for (const c of clients) server.acceptKeys(await c.keys());
    server.closeKeys();
    const roster = server.rosterFor('client-0');
    const swapped = { ...roster, clients: roster.clients.map((c) => (c.clientId === 'client-0' ? { ...c, maskKey: roster.clients[1]!.maskKey } : c)) };
    await expect(clients[0]!.shares(swapped)).rejects.toMatchObject({ code: 'inconsistent' });
    await expect(clients[0]!.shares({ ...roster, clients: roster.clients.slice(0, 2) })).rejects.toMatchObject({ code: 'too_few' });
    for (const c of clients) server.acceptShares(await c.shares(server.rosterFor(c.clientId)));
    server.closeShares();
    await clients[0]!.maskedInput(server.inboxFor('client-0'), update(0));
    // A survivor list that drops a client who did send leaves the coordinator both shares of it: refused below the minimum.
    expect(() => clients[0]!.unmask(['client-0', 'client-1'])).toThrow(SecAggRefusal);
  });

  it('builds symmetric neighbourhoods of the asked size (Harary graph)', () => {
    const ids = Array.from({ length: 20 }, (_, i) => `c${i}`);
    const graph = neighbourGraph(ids, 6, ids.map((_, i) => (i * 7) % 20));
    for (const [u, vs] of Object.entries(graph)) {
      expect(vs).toHaveLength(6);
      for (const v of vs) expect(graph[v]).toContain(u);
    }
    expect(neighbourGraph(ids.slice(0, 4), null, [0, 1, 2, 3]).c0).toHaveLength(3);
  });
});

describe('a lying holder', () => {
  it('is refused for a share at another holder\'s x, and shows when its share is off the polynomial', async () => {
    const p = params();
    const server = new SecAggServer(p);
    const clients = [0, 1, 2, 3, 4].map((k) => new SecAggClient(p, `client-${k}`));
    for (const c of clients) server.acceptKeys(await c.keys());
    server.closeKeys();
    for (const c of clients) server.acceptShares(await c.shares(server.rosterFor(c.clientId)));
    server.closeShares();
    for (const [k, c] of clients.entries()) server.acceptMasked(c.clientId, await c.maskedInput(server.inboxFor(c.clientId), update(k)));
    server.closeMasked();
    const messages = clients.map((c) => c.unmask(server.survivorsFor(c.clientId)));
    const liar = messages[0]!;
    const wrongX = { ...liar, selfMaskShares: liar.selfMaskShares.map((s, i) => (i === 0 ? { ...s, x: s.x === 1 ? 2 : 1 } : s)) };
    expect(() => server.acceptUnmask(wrongX)).toThrow(/holds the share of .* at x =/);
    // The right x, a wrong value: accepted, but the extra shares (5 holders, 3 needed) show it.
    const flipped = { ...liar, selfMaskShares: liar.selfMaskShares.map((s) => ({ ...s, y: s.y.startsWith('A') ? `B${s.y.slice(1)}` : `A${s.y.slice(1)}` })) };
    server.acceptUnmask(flipped);
    for (const m of messages.slice(1)) server.acceptUnmask(m);
    expect(await server.finish()).toBeNull();
    expect(server.aborted).toMatch(/not on one polynomial/);
  });
});

describe('the round\'s curve', () => {
  it('is X25519 when everyone offers it, P-256 when one client cannot, and what the task forces otherwise', async () => {
    const roster = async (p: SecAggParams, drop?: (m: Awaited<ReturnType<SecAggClient['keys']>>) => typeof m) => {
      const server = new SecAggServer(p);
      const clients = [0, 1, 2].map((k) => new SecAggClient(p, `client-${k}`));
      for (const [k, c] of clients.entries()) {
        const m = await c.keys();
        server.acceptKeys(k === 0 && drop ? drop(m) : m);
      }
      server.closeKeys();
      return server.rosterFor('client-1').curve;
    };
    expect(await roster(params())).toBe('X25519');
    // One runtime without X25519 offers P-256 only: the whole round agrees on P-256.
    expect(await roster(params(), (m) => ({ ...m, keys: m.keys.filter((k) => k.curve === 'P-256') }))).toBe('P-256');
    expect(await roster(params({ curve: 'P-256' }))).toBe('P-256');
    // And the round completes on either.
    expect((await round(4, {}, params({ curve: 'P-256' }))).result!.quantizedSum).toEqual(expectedSum([0, 1, 2, 3]));
  });
});
