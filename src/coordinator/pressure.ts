/**
 * Load shedding by @fastify/under-pressure: while the event loop lags, or the heap or resident memory is past
 * its limit (AdmissionLimits), every request is answered 503 `busy` with Retry-After, in the API's shape,
 * before any work is done, so that a coordinator in trouble recovers instead of falling over. Sampled each
 * second. Complements admission.ts, which bounds what the coordinator takes on (uploads in flight, rates);
 * this watches what the process itself can bear. `/healthz` is refused too, so a load balancer sends
 * people elsewhere meanwhile.
 */
import fastifyUnderPressure from '@fastify/under-pressure';
import type { FastifyInstance } from 'fastify';
import type { AdmissionLimits } from './admission.ts';
import { ApiFailure } from './api-failure.ts';

const RETRY_AFTER_S = 5;

const WHAT: Readonly<Record<string, string>> = {
  eventLoopDelay: 'its event loop lags',
  heapUsedBytes: 'its heap is nearly full',
  rssBytes: 'its memory is nearly full',
  eventLoopUtilization: 'its event loop is saturated',
};

/** One warning per this long while under pressure, not one per request shed. */
const LOG_EVERY_MS = 10_000;

export async function registerPressure(app: FastifyInstance, limits: AdmissionLimits, sampleIntervalMs = 1000): Promise<void> {
  let loggedAt = -Infinity;
  await app.register(fastifyUnderPressure, {
    maxEventLoopDelay: limits.maxEventLoopDelayMs,
    maxHeapUsedBytes: limits.maxHeapUsedBytes,
    maxRssBytes: limits.maxRssBytes,
    sampleInterval: sampleIntervalMs,
    pressureHandler: async (req, _reply, type, value) => {
      if (Date.now() - loggedAt >= LOG_EVERY_MS) {
        loggedAt = Date.now();
        req.log.warn({ type, value }, 'under pressure: shedding load');
      }
      throw new ApiFailure(503, 'busy', `the coordinator is overloaded (${WHAT[type] ?? type}); try again shortly`, undefined, RETRY_AFTER_S);
    },
  });
}
