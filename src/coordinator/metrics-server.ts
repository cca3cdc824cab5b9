/**
 * /metrics on a port of its own (COVEY_METRICS_PORT), for a Prometheus that reaches the coordinator on a
 * private interface: no token, and nothing else served there. Bound to the loopback by default.
 */
import Fastify from 'fastify';
import type { Metrics } from './metrics.ts';

export async function serveMetrics(metrics: Metrics, port: number, host: string): Promise<{ url: string; close(): Promise<void> }> {
  const app = Fastify({ logger: false });
  app.get('/metrics', async (_req, reply) => reply.type(metrics.contentType).header('cache-control', 'no-store').send(await metrics.render()));
  const url = `${await app.listen({ port, host })}/metrics`;
  return { url, close: () => app.close() };
}
