/**
 * Cross-origin access for sites that embed Covey, through @fastify/cors: a page from another origin may use
 * a task's API (and load the demo data) only if that task lists its origin in `allowedOrigins`. The SDK and
 * its trainer are public code, loadable from anywhere. Requests from the coordinator's own pages are
 * same-origin and pass untouched. The operator API (`/v1/operator/…`) names no task, so no other origin
 * may use it.
 *
 * A refused request, preflight or not, is answered 403 `origin_not_allowed` without any CORS header: the
 * browser then blocks it and the page reads nothing, not even why (the SDK tells that case apart from an
 * unreachable coordinator with an opaque probe). @fastify/cors on its own never refuses, it only leaves the
 * headers out and lets the request run: the refusal is ours, made through its origin callback so that it
 * comes before any work. `Origin: null` (sandboxed frames, file: pages) is never allowed, and the origin is
 * never echoed.
 */
import fastifyCors, { type FastifyCorsOptions } from '@fastify/cors';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiFailure } from './api-failure.ts';

export interface CorsPolicy {
  /** Origins allowed for one task. */
  forTask(taskId: string): ReadonlySet<string>;
  /** Origins allowed by any task (the SDK, the trainer and demo data serve them all). */
  any(): ReadonlySet<string>;
}

const TASK_PATH = /^\/v1\/tasks\/([^/?]+)/;
const SHARED_PATH = /^\/(v1\/tasks\/?(\?|$)|datasets\/)/;
/** The SDK's own files: the same public code as the npm package, so any page may load them and then be told, by the API, whether its origin may take part. */
const PUBLIC_PATH = /^\/sdk\//;

/** What an allowed origin may do: the API's methods and headers, a preflight cached 10 minutes. */
const API_CORS: FastifyCorsOptions = {
  methods: 'GET, POST, PUT',
  allowedHeaders: 'content-type, authorization',
  // Retry-After (429, 503) is not a header a page may read cross-origin unless it is exposed.
  exposedHeaders: 'retry-after',
  maxAge: 600,
  // A preflight without Access-Control-Request-Method is still answered (204), not refused in plain text.
  strictPreflight: false,
};

export async function registerCors(app: FastifyInstance, policy: CorsPolicy): Promise<void> {
  await app.register(fastifyCors, {
    hook: 'onRequest',
    delegator: (req: FastifyRequest, callback: (error: Error | null, options: FastifyCorsOptions) => void) => {
      const origin = req.headers.origin;
      if (!origin || origin === ownOrigin(req)) return callback(null, { origin: false });
      if (PUBLIC_PATH.test(req.url)) return callback(null, { origin: '*', preflight: false });
      if (allowedFor(req.url, policy)?.has(origin)) return callback(null, { ...API_CORS, origin });
      // Refused through the origin callback: Vary: Origin is set first, then the error handler answers 403.
      return callback(null, { origin: (_origin: string | undefined, refuse: (error: Error | null, allow: boolean) => void) => refuse(refusal(), false) });
    },
  });
}

function refusal(): ApiFailure {
  return new ApiFailure(403, 'origin_not_allowed', "pages from that origin may not use this coordinator's task; its operator can add the origin to the task's allowedOrigins", 'origin');
}

function allowedFor(url: string, policy: CorsPolicy): ReadonlySet<string> | null {
  if (SHARED_PATH.test(url)) return policy.any();
  const task = TASK_PATH.exec(url)?.[1];
  if (!task) return null;
  try {
    return policy.forTask(decodeURIComponent(task));
  } catch {
    return new Set(); // not a valid escape: no task has that name, so no origin is allowed
  }
}

/** This coordinator's origin as the browser sees it (X-Forwarded-Proto and -Host when a proxy is trusted). */
function ownOrigin(req: FastifyRequest): string {
  return `${req.protocol}://${req.host}`;
}
