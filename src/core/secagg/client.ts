/**
 * One client's side of a secure aggregation round (see protocol.ts). It keeps its secrets (its two private
 * keys, its self-mask seed, the shares it received) in memory for the round only, and checks what the
 * coordinator tells it before it acts: a roster or a survivor list below the minimum, that changes its own
 * keys, or that asks for the share of a client's key and of its seed, is refused.
 */
import { addInto, quantize, subtractInto } from './quantize.ts';
import { expandSeed, fromBase64Url, generateAgreementKey, open, privateScalar, seal, sharedSeed, toBase64Url, type AgreementKey } from './crypto.ts';
import { boxLabel, maskSign, SecAggRefusal, sharesNeeded, type Curve, type Inbox, type KeysMessage, type Roster, type SecAggParams, type SharesMessage, type UnmaskMessage } from './protocol.ts';
import { split } from './shamir.ts';
import { addGaussianNoise, SecureUniforms } from '../privacy/noise.ts';

const SHARE_LABEL = 'covey-secagg-share';
const ROUND_TO_NEAREST = () => 0.5;
export const MASK_LABEL = 'covey-secagg-mask';
const SEED_BYTES = 32;

interface Held {
  x: number;
  self: Uint8Array;
  key: Uint8Array;
}

export class SecAggClient {
  private encryption!: AgreementKey;
  private mask!: AgreementKey;
  /** Key pairs per curve offered, until the roster says which the round uses. */
  private readonly offered = new Map<Curve, { encryption: AgreementKey; mask: AgreementKey }>();
  private roster: Roster | undefined;
  private selfSeed: Uint8Array | undefined;
  /** Shares this client holds, by the owner's id. */
  private readonly held = new Map<string, Held>();
  private senders: Set<string> | undefined;

  constructor(
    readonly params: SecAggParams,
    readonly clientId: string,
  ) {
    // What protects this client from the coordinator is not taken from it blindly: a sum of one, or secrets
    // rebuilt from a minority of holders, would let it unmask this client.
    if (!(params.minClients >= 2)) throw new SecAggRefusal('inconsistent', `a secure round of at least ${params.minClients} client would reveal one update`);
    if (!(params.threshold > 0.5 && params.threshold <= 1)) throw new SecAggRefusal('inconsistent', `threshold ${params.threshold} must be over ½`);
  }

  /** Phase 0: fresh key pairs on the round's curve, or with `auto` on P-256 and, where this runtime has it, X25519. */
  async keys(): Promise<KeysMessage> {
    const curves: Curve[] = this.params.curve === 'auto' ? ['P-256', 'X25519'] : [this.params.curve];
    for (const curve of curves) {
      try {
        this.offered.set(curve, { encryption: await generateAgreementKey(curve), mask: await generateAgreementKey(curve) });
      } catch (e) {
        // A runtime without X25519 offers P-256 only; the round then agrees on P-256.
        if (curve === 'P-256' || this.params.curve !== 'auto') throw e;
      }
    }
    const keys = [...this.offered].map(([curve, k]) => ({ curve, encryptionKey: toBase64Url(k.encryption.publicKey), maskKey: toBase64Url(k.mask.publicKey) }));
    return { clientId: this.clientId, keys };
  }

  /** Phase 1: shares of the self-mask seed and of the mask key, sealed for each neighbour. */
  async shares(roster: Roster): Promise<SharesMessage> {
    const pair = this.offered.get(roster.curve);
    if (!pair) throw new SecAggRefusal('inconsistent', `the roster agreed on ${roster.curve}, which this client did not offer`);
    const me = roster.clients.find((c) => c.clientId === this.clientId);
    if (!me || me.encryptionKey !== toBase64Url(pair.encryption.publicKey) || me.maskKey !== toBase64Url(pair.mask.publicKey)) {
      throw new SecAggRefusal('inconsistent', 'the roster does not carry this client with its own keys');
    }
    if (roster.clients.length < this.params.minClients) throw new SecAggRefusal('too_few', `the roster has ${roster.clients.length} clients, fewer than ${this.params.minClients}`);
    this.roster = roster;
    const neighbours = this.neighboursIn(roster);
    this.encryption = pair.encryption;
    this.mask = pair.mask;
    this.offered.clear();
    this.selfSeed = crypto.getRandomValues(new Uint8Array(SEED_BYTES));
    // The holders are the neighbours and this client itself (its own share counts when it survives), as in Bonawitz et al.
    const holders = neighbours.length + 1;
    const t = sharesNeeded(holders, this.params.threshold);
    const selfShares = split(this.selfSeed, holders, t);
    const keyShares = split(await privateScalar(this.mask), holders, t);
    this.held.set(this.clientId, { x: holders, self: selfShares[holders - 1]!.y, key: keyShares[holders - 1]!.y });
    const boxes = await Promise.all(
      neighbours.map(async (v, i) => {
        const plain = new Uint8Array(1 + 2 * SEED_BYTES);
        plain[0] = i + 1;
        plain.set(selfShares[i]!.y, 1);
        plain.set(keyShares[i]!.y, 1 + SEED_BYTES);
        const key = await sharedSeed(this.encryption, fromBase64Url(this.entry(v).encryptionKey), SHARE_LABEL);
        return { to: v, box: toBase64Url(await seal(key, plain, boxLabel(this.params, this.clientId, v))) };
      }),
    );
    return { clientId: this.clientId, boxes };
  }

  /** Phase 2: the update quantized and masked. Opens the boxes first: one that does not open is refused. */
  async maskedInput(inbox: Inbox, update: Float32Array): Promise<Uint32Array> {
    const roster = this.roster;
    if (!roster || !this.selfSeed) throw new SecAggRefusal('wrong_phase', 'no roster yet');
    if (update.length !== this.params.length) throw new SecAggRefusal('malformed', `update of ${update.length} values, the round's vector ${this.params.length}`);
    const senders = new Set(inbox.senders);
    if (!senders.has(this.clientId) || inbox.senders.some((id) => !roster.clients.some((c) => c.clientId === id))) throw new SecAggRefusal('inconsistent', 'U2 is not within the roster, or leaves this client out');
    if (senders.size < this.params.minClients) throw new SecAggRefusal('too_few', `${senders.size} clients shared keys, fewer than ${this.params.minClients}`);
    const neighbours = this.neighboursIn(roster).filter((v) => senders.has(v));
    for (const v of neighbours) {
      const box = inbox.boxes.filter((b) => b.from === v);
      if (box.length !== 1) throw new SecAggRefusal('inconsistent', `expected one box from ${v}, got ${box.length}`);
      const key = await sharedSeed(this.encryption, fromBase64Url(this.entry(v).encryptionKey), SHARE_LABEL);
      const plain = await open(key, fromBase64Url(box[0]!.box), boxLabel(this.params, v, this.clientId)).catch(() => {
        throw new SecAggRefusal('malformed', `the box from ${v} does not open`);
      });
      if (plain.length !== 1 + 2 * SEED_BYTES) throw new SecAggRefusal('malformed', `the box from ${v} has ${plain.length} bytes`);
      this.held.set(v, { x: plain[0]!, self: plain.slice(1, 1 + SEED_BYTES), key: plain.slice(1 + SEED_BYTES) });
    }
    this.senders = senders;
    // With distributed DP each client adds its share of the noise, so the sum of at least minClients has it all.
    const noisy = this.params.noiseStd > 0 ? addGaussianNoise(update.slice(), this.params.noiseStd, new SecureUniforms()) : update;
    // Rounded to the nearest step: a step is c·n/2³¹ (1.6e-8 of a coordinate for the digits task's rounds),
    // far below anything training resolves, and the sum is then reproducible to the bit from the updates.
    const masked = quantize(noisy, this.params.bound, this.params.scale, ROUND_TO_NEAREST);
    addInto(masked, await expandSeed(this.selfSeed, this.params.length));
    const myIndex = this.entry(this.clientId).index;
    for (const v of neighbours) {
      const pair = await expandSeed(await sharedSeed(this.mask, fromBase64Url(this.entry(v).maskKey), MASK_LABEL), this.params.length);
      if (maskSign(myIndex, this.entry(v).index) > 0) addInto(masked, pair);
      else subtractInto(masked, pair);
    }
    return masked;
  }

  /** Phase 3: for each neighbour in U2 (and itself), the share of its seed if it survived, of its key if it dropped; never both. */
  unmask(survivors: readonly string[]): UnmaskMessage {
    const senders = this.senders;
    if (!senders) throw new SecAggRefusal('wrong_phase', 'no masked input sent yet');
    const alive = new Set(survivors);
    if (!alive.has(this.clientId) || survivors.some((id) => !senders.has(id))) throw new SecAggRefusal('inconsistent', 'U3 is not within U2, or leaves this client out');
    if (alive.size < this.params.minClients) throw new SecAggRefusal('too_few', `${alive.size} clients sent masked inputs, fewer than ${this.params.minClients}`);
    const message: UnmaskMessage = { clientId: this.clientId, selfMaskShares: [], keyShares: [] };
    for (const [of, h] of this.held) {
      if (alive.has(of)) message.selfMaskShares.push({ of, x: h.x, y: toBase64Url(h.self) });
      else message.keyShares.push({ of, x: h.x, y: toBase64Url(h.key) });
    }
    // Nothing of this round is needed any more: forget it.
    this.held.clear();
    this.selfSeed = undefined;
    return message;
  }

  private neighboursIn(roster: Roster): string[] {
    const ids = roster.neighbours[this.clientId];
    if (!ids) throw new SecAggRefusal('inconsistent', 'the roster gives this client no neighbours');
    if (ids.length < 1 || ids.some((v) => v === this.clientId || !roster.clients.some((c) => c.clientId === v))) throw new SecAggRefusal('inconsistent', 'the roster names neighbours outside itself');
    return ids;
  }

  private entry(id: string) {
    const e = this.roster?.clients.find((c) => c.clientId === id);
    if (!e) throw new SecAggRefusal('inconsistent', `${id} is not in the roster`);
    return e;
  }
}
