/**
 * Admission control: what keeps a busy or abused coordinator standing.
 * - Back-pressure: at most `maxInFlightUploads` uploads are received at once, and at most
 *   `maxUploadsPerIp` from one address; the next is answered 503 `busy` (or 429 `too_many_uploads`) with
 *   Retry-After, and the client's outbox retries later. Nothing queues without bound. An upload is admitted
 *   only once its token is verified, and its body must keep a pace (body-watchdog.ts). This is concurrency,
 *   which no Fastify plugin bounds: it stays here.
 * - Rate limits (rate-limits.ts, through @fastify/rate-limit): the token buckets below, per client IP
 *   (every API request), per client id (check-ins) and per IP for enrolments (an hour's worth); an empty
 *   bucket is answered 429 `rate_limited` with Retry-After. Memory is bounded: at most `maxTrackedKeys`
 *   buckets, the least recently used dropped first.
 * - Load shedding (pressure.ts, through @fastify/under-pressure): the process's own limits.
 */
import { getHeapStatistics } from 'node:v8';
import { ApiFailure } from './api-failure.ts';

export interface AdmissionLimits {
  maxInFlightUploads: number;
  /** Uploads one address may have in flight at once. */
  maxUploadsPerIp: number;
  /** Enrolments (new tokens) one address may ask for in an hour. */
  enrolmentsPerIpPerHour: number;
  /** Request bodies: the longest they may take, and the slowest pace after a grace period (body-watchdog.ts). */
  bodyTimeoutMs: number;
  minBodyBytesPerSecond: number;
  bodyGraceMs: number;
  /** Requests a client IP may make in a burst, and per second after it. */
  ipBurst: number;
  ipPerSecond: number;
  /** Check-ins one client id may make in a burst, and per second after it. */
  clientBurst: number;
  clientPerSecond: number;
  maxTrackedKeys: number;
  /**
   * Load shedding (@fastify/under-pressure, see pressure.ts): past any of these the coordinator answers
   * every request 503 `busy` with Retry-After until it recovers. 0 turns a check off.
   */
  maxEventLoopDelayMs: number;
  maxHeapUsedBytes: number;
  maxRssBytes: number;
}

export const DEFAULT_LIMITS: AdmissionLimits = {
  maxInFlightUploads: 64,
  maxUploadsPerIp: 4,
  enrolmentsPerIpPerHour: 60,
  bodyTimeoutMs: 120_000,
  minBodyBytesPerSecond: 1_024,
  bodyGraceMs: 5_000,
  ipBurst: 300,
  ipPerSecond: 50,
  clientBurst: 20,
  clientPerSecond: 2,
  maxTrackedKeys: 100_000,
  // Off: the coordinator evaluates each new version on its own event loop, a stall of a second or more
  // for digits here, and under-pressure reads a sample interval with the loop blocked throughout as an
  // infinite delay. Set it where evaluation is light (or off).
  maxEventLoopDelayMs: 0,
  // Near V8's heap limit, shedding load beats dying of it.
  maxHeapUsedBytes: Math.floor(getHeapStatistics().heap_size_limit * 0.9),
  maxRssBytes: 0,
};

export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly burst: number,
    private readonly perSecond: number,
    private readonly maxKeys: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one token for `key`; returns 0 when it could, else the seconds until one is there. */
  take(key: string): number {
    return Math.ceil(this.takeMs(key).waitMs / 1000);
  }

  /**
   * Takes one token for `key` if there is one. `waitMs`: 0 when taken, else how long until one is there;
   * `left`: the whole tokens left; `fullInMs`: how long until the bucket is full again.
   */
  takeMs(key: string): { waitMs: number; left: number; fullInMs: number } {
    const now = this.now();
    const b = this.buckets.get(key) ?? { tokens: this.burst, at: now };
    this.buckets.delete(key); // re-inserted below: Map order is then least recently used first
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.perSecond);
    b.at = now;
    let waitMs = 0;
    if (b.tokens >= 1) b.tokens -= 1;
    else waitMs = Math.ceil(((1 - b.tokens) / this.perSecond) * 1000);
    this.buckets.set(key, b);
    if (this.buckets.size > this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
    return { waitMs, left: Math.floor(b.tokens), fullInMs: Math.ceil(((this.burst - b.tokens) / this.perSecond) * 1000) };
  }

  get size(): number {
    return this.buckets.size;
  }
}

export class Admission {
  private inFlight = 0;
  /** Uploads in flight per address; an address is forgotten when it has none. */
  private readonly inFlightByIp = new Map<string, number>();

  constructor(readonly limits: AdmissionLimits = DEFAULT_LIMITS) {}

  /**
   * Admits an upload whose token was verified, before its body is read, until its answer is sent, so that at
   * most `maxInFlightUploads` bodies (and `maxUploadsPerIp` from one address) are held at once. Returns the
   * function that gives the slot back; call it once, when the request is done.
   */
  enterUpload(address: string): () => void {
    const ip = addressKey(address);
    const mine = this.inFlightByIp.get(ip) ?? 0;
    if (mine >= this.limits.maxUploadsPerIp) throw new ApiFailure(429, 'too_many_uploads', `this address already has ${mine} uploads in flight; send one at a time`, undefined, 2);
    if (this.inFlight >= this.limits.maxInFlightUploads) throw new ApiFailure(503, 'busy', 'the coordinator is busy; try again shortly', undefined, 2);
    this.inFlight += 1;
    this.inFlightByIp.set(ip, mine + 1);
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.inFlight -= 1;
      const n = (this.inFlightByIp.get(ip) ?? 1) - 1;
      if (n > 0) this.inFlightByIp.set(ip, n);
      else this.inFlightByIp.delete(ip);
    };
  }

  get uploadsInFlight(): number {
    return this.inFlight;
  }
}

/**
 * What per-address limits count by: an IPv4 address (also when written IPv4-mapped, `::ffff:a.b.c.d`), or an
 * IPv6 address's /64, the block one host or subscriber is usually given (one host can take any of its 2⁶⁴
 * addresses, so counting them one by one would limit nothing).
 */
export function addressKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (!ip.includes(':')) return ip;
  const [head, tail] = ip.toLowerCase().split('%')[0]!.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...new Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
