/**
 * The coordinator's side of one secure aggregation round (see protocol.ts): it collects each phase's
 * messages, closes a phase into the next (or aborts below the minimum), and at the end rebuilds from the
 * survivors' shares exactly what it needs, the survivors' self masks and the dropped clients' pairwise
 * masks, to take the sum of the quantized updates out of the sum of the masked inputs. It never holds one
 * client's update in the clear: only masked vectors, their running sum, and at the end the sum alone.
 */
import { addInto, dequantize, subtractInto } from './quantize.ts';
import { checkPublicKey, expandSeed, fromBase64Url, importPrivateScalar, sharedSeed } from './crypto.ts';
import { MASK_LABEL } from './client.ts';
import { maskSign, neighbourGraph, SecAggRefusal, sharesNeeded, type Curve, type Inbox, type KeysMessage, type Roster, type RosterEntry, type SecAggParams, type SecAggPhase, type SharesMessage, type UnmaskMessage } from './protocol.ts';
import { combine, interpolateAt, type Share } from './shamir.ts';

export interface SecAggResult {
  /** The sum of the survivors' (clipped, quantized) updates, scaled back. */
  sum: Float32Array;
  /** The same sum as the integers it is in Z_(2³²), read as signed: bit-exact. */
  quantizedSum: Int32Array;
  /** How many updates it sums (U3). */
  count: number;
  /** Clients at each phase: U1 (keys), U2 (shares), U3 (masked), U4 (unmask). */
  survivors: [number, number, number, number];
}

export class SecAggServer {
  private current: SecAggPhase = 'keys';
  private abortReason: string | null = null;
  private readonly advertised = new Map<string, KeysMessage>();
  private roster: Roster | undefined;
  private readonly boxes = new Map<string, Map<string, string>>(); // to → from → box
  private readonly sharesFrom = new Set<string>();
  private maskedSum: Uint32Array;
  private readonly maskedFrom = new Set<string>();
  private readonly unmasks = new Map<string, UnmaskMessage>();

  constructor(
    readonly params: SecAggParams,
    /** A random permutation of 0…n−1 for the neighbour graph (the coordinator draws it from the CSPRNG). */
    private readonly shuffle: (n: number) => number[] = secureShuffle,
  ) {
    this.maskedSum = new Uint32Array(params.length);
  }

  get phase(): SecAggPhase {
    return this.current;
  }

  /** Why the round aborted, or null. */
  get aborted(): string | null {
    return this.abortReason;
  }

  /** Clients that have sent this phase's message so far. */
  get received(): number {
    return { keys: this.advertised.size, shares: this.sharesFrom.size, masked: this.maskedFrom.size, unmask: this.unmasks.size, done: this.unmasks.size, aborted: 0 }[this.current];
  }

  /** Whether the client has sent its keys this round. */
  hasKeys(clientId: string): boolean {
    return this.advertised.has(clientId);
  }

  acceptKeys(m: KeysMessage, maxClients = Infinity): void {
    this.expect('keys');
    if (this.advertised.has(m.clientId)) throw new SecAggRefusal('repeated', `${m.clientId} already sent its keys`);
    // The quantization scale holds for at most maxClients inputs: no more may join.
    if (this.advertised.size >= maxClients) throw new SecAggRefusal('too_few', `the round already has its ${maxClients} clients`);
    // With `auto` every client offers P-256 (every runtime has it), X25519 too where it can; otherwise the round's curve.
    const required: Curve = this.params.curve === 'auto' ? 'P-256' : this.params.curve;
    if (!m.keys.some((k) => k.curve === required)) throw new SecAggRefusal('malformed', `keys on ${required} are required`);
    if (new Set(m.keys.map((k) => k.curve)).size !== m.keys.length) throw new SecAggRefusal('malformed', 'one set of keys per curve');
    for (const k of m.keys) {
      if (this.params.curve !== 'auto' && k.curve !== this.params.curve) throw new SecAggRefusal('malformed', `this round uses ${this.params.curve} only`);
      try {
        checkPublicKey(k.curve, fromBase64Url(k.encryptionKey));
        checkPublicKey(k.curve, fromBase64Url(k.maskKey));
      } catch {
        throw new SecAggRefusal('malformed', `keys are not ${k.curve} public keys`);
      }
      if (k.encryptionKey === k.maskKey) throw new SecAggRefusal('malformed', 'the two keys must differ');
    }
    this.advertised.set(m.clientId, { clientId: m.clientId, keys: m.keys.map((k) => ({ ...k })) });
  }

  /** Ends phase 0: the roster of U1, with each client's neighbours. */
  closeKeys(): void {
    this.expect('keys');
    if (!this.enough(this.advertised.size, 'keys')) return;
    if (this.params.neighbours === null && this.advertised.size > 255) return this.abort('the full graph shares among at most 255 others: set neighbours (SecAgg+)');
    const ids = [...this.advertised.keys()].sort();
    // One curve for the round: X25519 when every client offered it (with `auto`), else P-256.
    const everyone = (curve: Curve) => ids.every((id) => this.advertised.get(id)!.keys.some((k) => k.curve === curve));
    const curve: Curve = this.params.curve !== 'auto' ? this.params.curve : everyone('X25519') ? 'X25519' : 'P-256';
    const clients: RosterEntry[] = ids.map((id, index) => {
      const k = this.advertised.get(id)!.keys.find((x) => x.curve === curve)!;
      return { clientId: id, index, encryptionKey: k.encryptionKey, maskKey: k.maskKey };
    });
    this.roster = { curve, clients, neighbours: neighbourGraph(ids, this.params.neighbours, this.shuffle(ids.length)) };
    this.current = 'shares';
  }

  /** The roster a client of U1 acts on. */
  rosterFor(clientId: string): Roster {
    if (!this.roster) throw new SecAggRefusal('wrong_phase', 'the roster is made when the keys phase closes');
    this.member(this.roster.clients.some((c) => c.clientId === clientId), clientId, 'U1');
    return this.roster;
  }

  acceptShares(m: SharesMessage): void {
    this.expect('shares');
    const roster = this.roster!;
    this.member(roster.clients.some((c) => c.clientId === m.clientId), m.clientId, 'U1');
    if (this.sharesFrom.has(m.clientId)) throw new SecAggRefusal('repeated', `${m.clientId} already sent its shares`);
    const expected = new Set(roster.neighbours[m.clientId]);
    const to = m.boxes.map((b) => b.to);
    if (to.length !== expected.size || new Set(to).size !== to.length || to.some((v) => !expected.has(v))) {
      throw new SecAggRefusal('malformed', `one box for each of the ${expected.size} neighbours, and nothing else`);
    }
    for (const b of m.boxes) {
      if (typeof b.box !== 'string' || b.box.length > 512) throw new SecAggRefusal('malformed', 'a box is not a short base64url string');
      let inbox = this.boxes.get(b.to);
      if (!inbox) this.boxes.set(b.to, (inbox = new Map()));
      inbox.set(m.clientId, b.box);
    }
    this.sharesFrom.add(m.clientId);
  }

  closeShares(): void {
    this.expect('shares');
    if (this.enough(this.sharesFrom.size, 'shares')) this.current = 'masked';
  }

  /** U2, and the boxes addressed to this client by its neighbours in U2. */
  inboxFor(clientId: string): Inbox {
    if (this.current !== 'masked' && this.current !== 'unmask') throw new SecAggRefusal('wrong_phase', `the inbox opens when the shares phase closes (now: ${this.current})`);
    this.member(this.sharesFrom.has(clientId), clientId, 'U2');
    const boxes = [...(this.boxes.get(clientId) ?? new Map<string, string>())].filter(([from]) => this.sharesFrom.has(from)).map(([from, box]) => ({ from, box }));
    return { senders: [...this.sharesFrom].sort(), boxes };
  }

  acceptMasked(clientId: string, masked: Uint32Array): void {
    this.expect('masked');
    this.member(this.sharesFrom.has(clientId), clientId, 'U2');
    if (this.maskedFrom.has(clientId)) throw new SecAggRefusal('repeated', `${clientId} already sent its masked input`);
    if (masked.length !== this.params.length) throw new SecAggRefusal('malformed', `masked input of ${masked.length} words, the round's vector ${this.params.length}`);
    addInto(this.maskedSum, masked);
    this.maskedFrom.add(clientId);
  }

  closeMasked(): void {
    this.expect('masked');
    if (this.enough(this.maskedFrom.size, 'masked')) this.current = 'unmask';
  }

  /** U3, for a client in it. */
  survivorsFor(clientId: string): string[] {
    if (this.current !== 'unmask') throw new SecAggRefusal('wrong_phase', `the survivors are known when the masked phase closes (now: ${this.current})`);
    this.member(this.maskedFrom.has(clientId), clientId, 'U3');
    return [...this.maskedFrom].sort();
  }

  acceptUnmask(m: UnmaskMessage): void {
    this.expect('unmask');
    this.member(this.maskedFrom.has(m.clientId), m.clientId, 'U3');
    if (this.unmasks.has(m.clientId)) throw new SecAggRefusal('repeated', `${m.clientId} already sent its shares`);
    const mine = new Set([...this.roster!.neighbours[m.clientId]!, m.clientId]);
    const seen = new Set<string>();
    for (const [list, wantAlive] of [[m.selfMaskShares, true], [m.keyShares, false]] as const) {
      for (const s of list) {
        if (seen.has(s.of)) throw new SecAggRefusal('malformed', `two shares for ${s.of}: never both its seed and its key`);
        seen.add(s.of);
        if (!mine.has(s.of) || !this.sharesFrom.has(s.of)) throw new SecAggRefusal('malformed', `${s.of} is not a neighbour in U2 of ${m.clientId}`);
        if (this.maskedFrom.has(s.of) !== wantAlive) throw new SecAggRefusal('malformed', `${s.of} ${wantAlive ? 'dropped: send its key share' : 'survived: send its seed share'}`);
        if (typeof s.y !== 'string' || s.y.length !== 43) throw new SecAggRefusal('malformed', `the share of ${s.of} is not a 32-byte share`);
        // Each holder has one x: its place among the owner's neighbours, the owner itself last.
        const holders = this.roster!.neighbours[s.of]!;
        const x = s.of === m.clientId ? holders.length + 1 : holders.indexOf(m.clientId) + 1;
        if (s.x !== x) throw new SecAggRefusal('malformed', `${m.clientId} holds the share of ${s.of} at x = ${x}, not ${s.x}`);
      }
    }
    this.unmasks.set(m.clientId, m);
  }

  /** Ends the round: rebuilds the masks to remove and returns the sum; aborts (null) below the minimum or when a secret cannot be rebuilt. */
  async finish(): Promise<SecAggResult | null> {
    this.expect('unmask');
    if (!this.enough(this.unmasks.size, 'unmask')) return null;
    try {
      return await this.unmaskSum();
    } catch (e) {
      if (!(e instanceof SecAggRefusal)) throw e;
      this.abort(e.message);
      return null;
    }
  }

  private async unmaskSum(): Promise<SecAggResult | null> {
    const roster = this.roster!;
    const entry = new Map(roster.clients.map((c) => [c.clientId, c]));
    const sharesOf = new Map<string, Share[]>();
    for (const m of this.unmasks.values()) {
      for (const s of [...m.selfMaskShares, ...m.keyShares]) {
        const list = sharesOf.get(s.of) ?? [];
        list.push({ x: s.x, y: fromBase64Url(s.y) });
        sharesOf.set(s.of, list);
      }
    }
    const rebuild = (of: string): Uint8Array | null => {
      const shares = sharesOf.get(of) ?? [];
      const need = sharesNeeded(roster.neighbours[of]!.length + 1, this.params.threshold);
      if (shares.length < need) return null;
      // Shares beyond the threshold must lie on the same polynomials: a lying holder shows, and the round aborts rather than sum a wrong mask.
      const basis = shares.slice(0, need);
      for (const extra of shares.slice(need)) {
        const expected = interpolateAt(basis, extra.x);
        if (expected.some((b, i) => b !== extra.y[i])) throw new SecAggRefusal('inconsistent', `the shares of ${of} are not on one polynomial: a holder lied`);
      }
      return combine(basis);
    };
    const sum = this.maskedSum.slice();
    // The survivors' self masks.
    for (const u of this.maskedFrom) {
      const seed = rebuild(u);
      if (!seed) return this.abort(`too few shares to rebuild the self mask of ${u}`), null;
      subtractInto(sum, await expandSeed(seed, this.params.length));
    }
    // The dropped clients' pairwise masks, which their surviving neighbours added.
    for (const v of this.sharesFrom) {
      if (this.maskedFrom.has(v)) continue;
      const scalar = rebuild(v);
      if (!scalar) return this.abort(`too few shares to rebuild the key of ${v}, who dropped`), null;
      const key = await importPrivateScalar(roster.curve, scalar, fromBase64Url(entry.get(v)!.maskKey)).catch(() => null);
      if (!key) return this.abort(`the key rebuilt for ${v} is not its key`), null;
      for (const u of roster.neighbours[v]!) {
        if (!this.maskedFrom.has(u)) continue;
        const pair = await expandSeed(await sharedSeed(key, fromBase64Url(entry.get(u)!.maskKey), MASK_LABEL), this.params.length);
        // u added maskSign(u, v) · PRG(s_uv): take that out.
        if (maskSign(entry.get(u)!.index, entry.get(v)!.index) > 0) subtractInto(sum, pair);
        else addInto(sum, pair);
      }
    }
    this.current = 'done';
    return { sum: dequantize(sum, this.params.scale), quantizedSum: new Int32Array(sum.buffer), count: this.maskedFrom.size, survivors: [this.advertised.size, this.sharesFrom.size, this.maskedFrom.size, this.unmasks.size] };
  }

  /** The raw modular sum of the masked inputs so far (for tests: it must look random). */
  get maskedTotal(): Uint32Array {
    return this.maskedSum.slice();
  }

  private enough(n: number, phase: string): boolean {
    if (n >= this.params.minClients) return true;
    this.abort(`${n} clients in the ${phase} phase, fewer than ${this.params.minClients}`);
    return false;
  }

  private abort(reason: string): void {
    this.current = 'aborted';
    this.abortReason = reason;
    this.maskedSum.fill(0);
  }

  private expect(phase: SecAggPhase): void {
    if (this.current !== phase) throw new SecAggRefusal('wrong_phase', `the round is in the ${this.current} phase, not ${phase}`);
  }

  private member(is: boolean, clientId: string, set: string): void {
    if (!is) throw new SecAggRefusal('not_in_round', `${clientId} is not in ${set} of this round`);
  }
}

/** A uniformly random permutation (Fisher–Yates) from the CSPRNG. */
export function secureShuffle(n: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  const words = crypto.getRandomValues(new Uint32Array(n));
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor((words[i]! / 2 ** 32) * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}
