/**
 * Admission control: what keeps a busy or abused coordinator standing.
 * - Back-pressure: at most `maxInFlightUploads` uploads are received at once; the next is answered 503
 *   `busy` with Retry-After, and the client's outbox retries later. Nothing queues without bound.
 * - Rate limits: token buckets per client IP (every API request) and per client id (check-ins); an empty
 *   bucket is answered 429 `rate_limited` with Retry-After.
 * Memory is bounded: at most `maxTrackedKeys` buckets, the least recently used dropped first.
 */
import { ApiFailure } from './api-failure.ts';

export interface AdmissionLimits {
  maxInFlightUploads: number;
  /** Requests a client IP may make in a burst, and per second after it. */
  ipBurst: number;
  ipPerSecond: number;
  /** Check-ins one client id may make in a burst, and per second after it. */
  clientBurst: number;
  clientPerSecond: number;
  maxTrackedKeys: number;
}

export const DEFAULT_LIMITS: AdmissionLimits = { maxInFlightUploads: 64, ipBurst: 300, ipPerSecond: 50, clientBurst: 20, clientPerSecond: 2, maxTrackedKeys: 100_000 };

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
    const now = this.now();
    const b = this.buckets.get(key) ?? { tokens: this.burst, at: now };
    this.buckets.delete(key); // re-inserted below: Map order is then least recently used first
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.perSecond);
    b.at = now;
    let wait = 0;
    if (b.tokens >= 1) b.tokens -= 1;
    else wait = Math.ceil((1 - b.tokens) / this.perSecond);
    this.buckets.set(key, b);
    if (this.buckets.size > this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
    return wait;
  }

  get size(): number {
    return this.buckets.size;
  }
}

export class Admission {
  private inFlight = 0;
  private readonly perIp: TokenBuckets;
  private readonly perClient: TokenBuckets;

  constructor(readonly limits: AdmissionLimits = DEFAULT_LIMITS, now: () => number = Date.now) {
    this.perIp = new TokenBuckets(limits.ipBurst, limits.ipPerSecond, limits.maxTrackedKeys, now);
    this.perClient = new TokenBuckets(limits.clientBurst, limits.clientPerSecond, limits.maxTrackedKeys, now);
  }

  checkIp(ip: string): void {
    const wait = this.perIp.take(ip);
    if (wait > 0) throw new ApiFailure(429, 'rate_limited', 'too many requests from this address; slow down', undefined, wait);
  }

  checkClient(clientId: string): void {
    const wait = this.perClient.take(clientId);
    if (wait > 0) throw new ApiFailure(429, 'rate_limited', 'this client checks in too often; come back later', 'clientId', wait);
  }

  /**
   * Admits an upload from its first byte (before its body is buffered) until its answer is sent, so that
   * at most `maxInFlightUploads` bodies are held in memory at once. Call `leaveUpload` when it is done.
   */
  enterUpload(): void {
    if (this.inFlight >= this.limits.maxInFlightUploads) throw new ApiFailure(503, 'busy', 'the coordinator is busy; try again shortly', undefined, 2);
    this.inFlight += 1;
  }

  leaveUpload(): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
  }

  get uploadsInFlight(): number {
    return this.inFlight;
  }
}
