/**
 * Cross-origin access for sites that embed Covey: a page from another origin may use a task's API (and load
 * the demo data) only if that task lists its origin in `allowedOrigins`. The SDK and its trainer are public
 * code, loadable from anywhere. Requests from the coordinator's own pages are same-origin and pass untouched.
 *
 * A refused request, preflight or not, is answered 403 `origin_not_allowed` without any CORS header: the
 * browser then blocks it and the page reads nothing, not even why (the SDK tells that case apart from an
 * unreachable coordinator with an opaque probe). `Origin: null` (sandboxed frames, file: pages) is never
 * allowed, and the origin is never echoed.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiError } from '../core/protocol.ts';

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

export function registerCors(app: FastifyInstance, policy: CorsPolicy): void {
  app.addHook('onRequest', async (req, reply) => {
    const origin = req.headers.origin;
    if (!origin || origin === ownOrigin(req)) return;
    if (PUBLIC_PATH.test(req.url)) {
      reply.header('access-control-allow-origin', '*');
      return;
    }
    const allowed = allowedFor(req.url, policy);
    if (allowed?.has(origin)) {
      // Retry-After (429, 503) is not a header a page may read cross-origin unless it is exposed.
      reply.header('access-control-allow-origin', origin).header('vary', 'Origin').header('access-control-expose-headers', 'retry-after');
      if (req.method === 'OPTIONS') return preflight(reply);
      return;
    }
    const body: ApiError = { error: { code: 'origin_not_allowed', message: "pages from that origin may not use this coordinator's task; its operator can add the origin to the task's allowedOrigins", field: 'origin' } };
    return reply.code(403).header('vary', 'Origin').type('application/json').send(body);
  });
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

function preflight(reply: FastifyReply): FastifyReply {
  return reply
    .header('access-control-allow-methods', 'GET, POST, PUT')
    .header('access-control-allow-headers', 'content-type, authorization')
    .header('access-control-max-age', '600')
    .code(204)
    .send();
}

/** This coordinator's origin as the browser sees it (X-Forwarded-Proto and -Host when a proxy is trusted). */
function ownOrigin(req: FastifyRequest): string {
  return `${req.protocol}://${req.host}`;
}
