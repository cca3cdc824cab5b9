/**
 * /metrics on a port of its own (COVEY_METRICS_PORT), for a Prometheus that reaches the coordinator on a
 * private interface: no token, and nothing else served there. Bound to the loopback by default, and like
 * the main port it answers only to its own host names (a page on a rebound DNS name cannot read it).
 */
import Fastify from 'fastify';
import { hostPolicy, registerHostCheck } from './host-check.ts';
import { toApiFailure } from './http-refusals.ts';
import type { Metrics } from './metrics.ts';

export async function serveMetrics(metrics: Metrics, port: number, host: string, publicOrigins: readonly string[] = []): Promise<{ url: string; close(): Promise<void> }> {
  const app = Fastify({ logger: false });
  app.setErrorHandler((err: Error, _req, reply) => {
    const failure = toApiFailure(err);
    return reply.code(failure.status).type('application/json').send(failure.toBody());
  });
  registerHostCheck(app, hostPolicy(publicOrigins, host));
  app.get('/metrics', async (_req, reply) => reply.type(metrics.contentType).header('cache-control', 'no-store').send(await metrics.render()));
  const url = `${await app.listen({ port, host })}/metrics`;
  return { url, close: () => app.close() };
}
