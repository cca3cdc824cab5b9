/**
 * Secure aggregation's round protocol (Bonawitz et al. 2017, "Practical Secure Aggregation for
 * Privacy-Preserving Machine Learning"; with `neighbours`, SecAgg+ of Bell et al. 2020: each client masks
 * and shares with k neighbours on a random Harary graph instead of everyone). The messages, in order:
 *
 * 0. keys     client → coordinator: two fresh public keys (c: to encrypt shares; s: to agree pairwise masks).
 *             The coordinator closes the phase with U1, the roster (each client's index, keys, neighbours).
 * 1. shares   client → coordinator: for each neighbour, its Shamir shares of the client's self-mask seed b
 *             and of its private key s, sealed with AES-GCM for that neighbour. The phase closes with U2.
 * 2. masked   client → coordinator: its quantized update + PRG(b) + Σ ±PRG(s_uv) over neighbours in U2,
 *             modulo 2³². The phase closes with U3, the survivors.
 * 3. unmask   client → coordinator: for each neighbour in U2, the share of b if it survived (in U3), the
 *             share of s if it dropped: never both for one client. The coordinator rebuilds the survivors'
 *             self masks and the dropped clients' pairwise masks, and is left with the sum alone.
 *
 * Below the threshold at any phase the round aborts and the model stays. Transport-agnostic: the
 * coordinator carries these messages over HTTP, the simulator in memory.
 */
import { ValidationError, asObject, readNumber, readOneOf, readString, type Fields } from '../validate.ts';

/** Key agreement curves: P-256 everywhere; X25519 where every participant's runtime has it. */
export type Curve = 'P-256' | 'X25519';
export const CURVES: readonly Curve[] = ['P-256', 'X25519'];
/** A round's curve: one of them, or `auto`: X25519 when every client of the round offered it, P-256 otherwise. */
export type CurveChoice = Curve | 'auto';
export const CURVE_CHOICES: readonly CurveChoice[] = ['auto', 'P-256', 'X25519'];

export interface SecAggParams {
  taskId: string;
  roundId: number;
  curve: CurveChoice;
  /** Words in the vector (the model's parameter count). */
  length: number;
  /** A coordinate's bound c: values are clamped to [−c, c] before quantization. */
  bound: number;
  /** The quantization scale, for at most `maxClients` inputs (core/secagg/quantize.ts). */
  scale: number;
  /** The fewest clients that may remain at any phase (and the fewest share holders a secret needs, within a neighbourhood, scaled). */
  minClients: number;
  /** The share of a client's neighbours needed to rebuild its secrets, over ½. */
  threshold: number;
  /** Neighbours per client (SecAgg+), or null: everyone (the original protocol, up to 255 clients). */
  neighbours: number | null;
  /** With distributed DP: the standard deviation each client adds to every coordinate before quantizing. */
  noiseStd: number;
}

/** A client's two public keys on one curve, base64url. */
export interface CurveKeys {
  curve: Curve;
  encryptionKey: string;
  maskKey: string;
}

/** Keys on each curve the client can use (P-256 always; X25519 where its runtime has it). */
export interface KeysMessage {
  clientId: string;
  keys: CurveKeys[];
}

export interface RosterEntry {
  clientId: string;
  index: number;
  encryptionKey: string;
  maskKey: string;
}

export interface Roster {
  /** The curve the round agreed on: every key below is on it. */
  curve: Curve;
  clients: RosterEntry[];
  /** Per client id, its neighbours' ids (sorted by index). */
  neighbours: Record<string, string[]>;
}

export interface SharesMessage {
  clientId: string;
  /** One sealed box per neighbour, base64url. */
  boxes: { to: string; box: string }[];
}

export interface Inbox {
  /** U2: the clients whose shares were delivered. */
  senders: string[];
  /** The boxes sent to this client by its neighbours in U2. */
  boxes: { from: string; box: string }[];
}

export interface UnmaskMessage {
  clientId: string;
  /** Shares of survivors' self-mask seeds and of dropped clients' private keys, base64url, each with its x. */
  selfMaskShares: { of: string; x: number; y: string }[];
  keyShares: { of: string; x: number; y: string }[];
}

export type SecAggPhase = 'keys' | 'shares' | 'masked' | 'unmask' | 'done' | 'aborted';

/** A message the protocol refuses, with a reason code (the coordinator answers it as a 4xx). */
export class SecAggRefusal extends Error {
  constructor(
    readonly code: 'wrong_phase' | 'not_in_round' | 'repeated' | 'malformed' | 'too_few' | 'inconsistent',
    message: string,
  ) {
    super(message);
    this.name = 'SecAggRefusal';
  }
}

/** Each secret is shared among its owner and the owner's neighbours (`holders` in all); this many of them rebuild it. */
export const sharesNeeded = (holders: number, threshold: number): number => Math.max(1, Math.ceil(threshold * holders));

/** The associated data that binds a share box to its round and both parties. */
export const boxLabel = (p: Pick<SecAggParams, 'taskId' | 'roundId'>, from: string, to: string): string => `covey-secagg/${p.taskId}/${p.roundId}/${from}->${to}`;

/** The sign with which `u` adds the pairwise mask it shares with `v`: + for the lower index, − for the higher, so a pair cancels. */
export const maskSign = (uIndex: number, vIndex: number): 1 | -1 => (uIndex < vIndex ? 1 : -1);

/**
 * The neighbour graph: everyone (neighbours null or ≥ n − 1), or the Harary graph H(k, n) over a random
 * order: clients on a ring, each joined to the ⌈k/2⌉ nearest on either side (SecAgg+). Symmetric.
 */
export function neighbourGraph(ids: readonly string[], neighbours: number | null, order: readonly number[]): Record<string, string[]> {
  const n = ids.length;
  const graph: Record<string, Set<string>> = Object.fromEntries(ids.map((id) => [id, new Set<string>()]));
  if (neighbours === null || neighbours >= n - 1) {
    for (const u of ids) for (const v of ids) if (u !== v) graph[u]!.add(v);
  } else {
    const half = Math.ceil(neighbours / 2);
    const ring = order.map((i) => ids[i]!);
    for (let i = 0; i < n; i++) {
      for (let step = 1; step <= half; step++) {
        const u = ring[i]!, v = ring[(i + step) % n]!;
        graph[u]!.add(v);
        graph[v]!.add(u);
      }
    }
  }
  return Object.fromEntries(ids.map((id) => [id, [...graph[id]!]]));
}

// Guards for the messages as they arrive over HTTP: every field checked, nothing else kept.
const B64 = /^[A-Za-z0-9_-]{1,600}$/;
function readB64(o: Fields, key: string, path: string): string {
  const v = readString(o, key, path);
  if (!B64.test(v)) throw new ValidationError(path, 'must be base64url of at most 600 characters');
  return v;
}
function readList(value: unknown, path: string, max: number): unknown[] {
  if (!Array.isArray(value) || value.length > max) throw new ValidationError(path, `must be a list of at most ${max}`);
  return value;
}
const readId = (o: Fields, key: string, path: string): string => {
  const v = readString(o, key, path);
  if (!/^[A-Za-z0-9_-]{8,64}$/.test(v)) throw new ValidationError(path, 'is not a well-formed client id');
  return v;
};

export function parseKeysMessage(body: unknown): KeysMessage {
  const o = asObject(body, 'keys');
  const keys = readList(o.keys, 'keys', CURVES.length).map((k, i) => {
    const e = asObject(k, `keys[${i}]`);
    return { curve: readOneOf(e, 'curve', CURVES, `keys[${i}].curve`), encryptionKey: readB64(e, 'encryptionKey', `keys[${i}].encryptionKey`), maskKey: readB64(e, 'maskKey', `keys[${i}].maskKey`) };
  });
  if (new Set(keys.map((k) => k.curve)).size !== keys.length) throw new ValidationError('keys', 'one entry per curve');
  return { clientId: readId(o, 'clientId', 'clientId'), keys };
}

export function parseSharesMessage(body: unknown): SharesMessage {
  const o = asObject(body, 'shares');
  const boxes = readList(o.boxes, 'boxes', 1000).map((b, i) => {
    const e = asObject(b, `boxes[${i}]`);
    return { to: readId(e, 'to', `boxes[${i}].to`), box: readB64(e, 'box', `boxes[${i}].box`) };
  });
  return { clientId: readId(o, 'clientId', 'clientId'), boxes };
}

export function parseUnmaskMessage(body: unknown): UnmaskMessage {
  const o = asObject(body, 'unmask');
  const shares = (key: 'selfMaskShares' | 'keyShares') =>
    readList(o[key], key, 1001).map((s, i) => {
      const e = asObject(s, `${key}[${i}]`);
      return { of: readId(e, 'of', `${key}[${i}].of`), x: readNumber(e, 'x', { integer: true, min: 1, max: 255 }, `${key}[${i}].x`), y: readB64(e, 'y', `${key}[${i}].y`) };
    });
  return { clientId: readId(o, 'clientId', 'clientId'), selfMaskShares: shares('selfMaskShares'), keyShares: shares('keyShares') };
}

export function parseRoster(body: unknown): Roster {
  const o = asObject(body, 'roster');
  const clients = readList(o.clients, 'clients', 100_000).map((c, i) => {
    const e = asObject(c, `clients[${i}]`);
    return { clientId: readId(e, 'clientId', `clients[${i}].clientId`), index: readNumber(e, 'index', { integer: true, min: 0 }, `clients[${i}].index`), encryptionKey: readB64(e, 'encryptionKey', `clients[${i}].encryptionKey`), maskKey: readB64(e, 'maskKey', `clients[${i}].maskKey`) };
  });
  const n = asObject(o.neighbours, 'neighbours');
  const neighbours: Record<string, string[]> = {};
  for (const [id, list] of Object.entries(n)) neighbours[id] = readList(list, `neighbours.${id}`, 100_000).map((v) => String(v));
  return { curve: readOneOf(o, 'curve', CURVES, 'curve'), clients, neighbours };
}

export function parseInbox(body: unknown): Inbox {
  const o = asObject(body, 'inbox');
  return {
    senders: readList(o.senders, 'senders', 100_000).map((v) => String(v)),
    boxes: readList(o.boxes, 'boxes', 1000).map((b, i) => {
      const e = asObject(b, `boxes[${i}]`);
      return { from: readId(e, 'from', `boxes[${i}].from`), box: readB64(e, 'box', `boxes[${i}].box`) };
    }),
  };
}

export function parseSecAggParams(value: unknown): SecAggParams {
  const o = asObject(value, 'secureAggregation');
  const neighbours = o.neighbours === null ? null : readNumber(o, 'neighbours', { integer: true, min: 1, max: 1e6 }, 'secureAggregation.neighbours');
  return {
    taskId: readString(o, 'taskId', 'secureAggregation.taskId'),
    roundId: readNumber(o, 'roundId', { integer: true, min: 0 }, 'secureAggregation.roundId'),
    curve: readOneOf(o, 'curve', CURVE_CHOICES, 'secureAggregation.curve'),
    length: readNumber(o, 'length', { integer: true, min: 1, max: 1e9 }, 'secureAggregation.length'),
    bound: readNumber(o, 'bound', { min: Number.MIN_VALUE }, 'secureAggregation.bound'),
    scale: readNumber(o, 'scale', { min: Number.MIN_VALUE }, 'secureAggregation.scale'),
    minClients: readNumber(o, 'minClients', { integer: true, min: 1 }, 'secureAggregation.minClients'),
    threshold: readNumber(o, 'threshold', { min: 0.5, max: 1 }, 'secureAggregation.threshold'),
    neighbours,
    noiseStd: readNumber(o, 'noiseStd', { min: 0 }, 'secureAggregation.noiseStd'),
  };
}
