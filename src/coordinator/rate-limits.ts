/**
 * Rate limits through @fastify/rate-limit, counted by token buckets (admission.ts's TokenBuckets) rather
 * than the plugin's fixed windows: a bucket holds `max` requests and refills at `max` per `timeWindow`, so
 * a client gets its burst and then a steady rate, never twice the burst across a window's edge. Three
 * limits, each answered 429 `rate_limited` with Retry-After in the API's shape:
 *
 * - every API request (`/v1/…`, routed or not), per address (an IPv6 host by its /64), with the plugin's
 *   X-RateLimit-* headers so a client can see its budget;
 * - check-ins per client id (from the body, once its token is verified);
 * - enrolments (new tokens) per address, an hour's allowance.
 *
 * The plugin runs one of its hooks per request, so the second and third are its `createRateLimit` checks,
 * called from the routes, each with a bucket store of its own.
 */
import fastifyRateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { TokenBuckets, addressKey, type AdmissionLimits } from './admission.ts';
import { ApiFailure } from './api-failure.ts';

type Incr = (error: Error | null, result?: { current: number; ttl: number }) => void;

/** The plugin's store interface over token buckets: `current` past `max` means refused, `ttl` is the wait (or, when allowed, the time to a full bucket). */
function bucketStore(maxKeys: number, now: () => number) {
  return class BucketStore {
    private readonly buckets: TokenBuckets;
    private readonly max: number;

    /** The plugin passes its merged options (typed there as route options): `max` and `timeWindow` are what is read. */
    constructor(options: object) {
      const { max, timeWindow } = options as { max?: unknown; timeWindow?: unknown };
      this.max = typeof max === 'number' ? max : 1;
      const windowMs = typeof timeWindow === 'number' ? timeWindow : 1000;
      this.buckets = new TokenBuckets(this.max, this.max / (windowMs / 1000), maxKeys, now);
    }

    incr(key: string, callback: Incr): void {
      const { waitMs, left, fullInMs } = this.buckets.takeMs(key);
      callback(null, waitMs > 0 ? { current: this.max + 1, ttl: waitMs } : { current: this.max - left, ttl: fullInMs });
    }

    child(options: object): BucketStore {
      return new BucketStore(options);
    }
  };
}

export interface RateLimits {
  /** Throws 429 when `clientId` checks in too often. */
  checkin(req: FastifyRequest, clientId: string): Promise<void>;
  /** Throws 429 when the request's address asks for too many tokens. */
  enrolment(req: FastifyRequest): Promise<void>;
}

export async function registerRateLimits(app: FastifyInstance, limits: AdmissionLimits, now: () => number = Date.now): Promise<RateLimits> {
  const windowOf = (burst: number, perSecond: number) => Math.max(1, Math.round((burst / perSecond) * 1000));
  await app.register(fastifyRateLimit, {
    global: false,
    max: limits.ipBurst,
    timeWindow: windowOf(limits.ipBurst, limits.ipPerSecond),
    keyGenerator: (req) => addressKey(req.ip),
    store: bucketStore(limits.maxTrackedKeys, now),
    errorResponseBuilder: (_req, context) => new ApiFailure(429, 'rate_limited', 'too many requests from this address; slow down', undefined, Math.ceil(context.ttl / 1000)),
  });
  const perAddress = app.rateLimit();
  // Every API request, routed or not, after CORS (so a page can read its 429) and before any work.
  app.addHook('onRequest', async (req, reply) => {
    if (req.url.startsWith('/v1/')) await perAddress.call(app, req, reply);
  });

  const check = (options: { max: number; timeWindow: number; keyGenerator: (req: FastifyRequest) => string }, refuse: (retryAfterS: number) => ApiFailure) => {
    const limiter = app.createRateLimit(options);
    return async (req: FastifyRequest) => {
      const result = await limiter(req);
      if (!result.isAllowed && result.isExceeded) throw refuse(Math.ceil(result.ttl / 1000));
    };
  };
  const clients = new WeakMap<FastifyRequest, string>();
  const checkin = check(
    { max: limits.clientBurst, timeWindow: windowOf(limits.clientBurst, limits.clientPerSecond), keyGenerator: (req) => `client:${clients.get(req)}` },
    (wait) => new ApiFailure(429, 'rate_limited', 'this client checks in too often; come back later', 'clientId', wait),
  );
  const enrolment = check(
    { max: limits.enrolmentsPerIpPerHour, timeWindow: 3600_000, keyGenerator: (req) => `enrol:${addressKey(req.ip)}` },
    (wait) => new ApiFailure(429, 'rate_limited', 'too many enrolments from this address; try again later', undefined, wait),
  );
  return {
    async checkin(req, clientId) {
      clients.set(req, clientId);
      await checkin(req);
    },
    enrolment,
  };
}
