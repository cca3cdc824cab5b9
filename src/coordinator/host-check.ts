/**
 * The coordinator answers only to its own names. A page on evil.example whose DNS name is made to resolve
 * to 127.0.0.1 (DNS rebinding) sends `Host: evil.example` and `Origin: http://evil.example`: same-origin as
 * far as the browser and a naive server can tell, so it could enrol, check in and read everything from a
 * coordinator bound to loopback, from any visitor's browser. Refusing every Host that is not one of ours
 * (421) closes that, and makes the origin the CORS check calls "own" trustworthy.
 *
 * Ours: the loopback names (any port), the address the coordinator listens on (or, listening on every
 * interface, each of this machine's addresses: an IP literal cannot be rebound), and the public origins
 * the operator configures (COVEY_PUBLIC_ORIGINS, exact host and port). Behind a trusted proxy the Host is
 * X-Forwarded-Host. `/healthz` answers any Host, for load balancers that probe by address.
 */
import type { FastifyInstance } from 'fastify';
import { networkInterfaces } from 'node:os';
import { ApiFailure } from './api-failure.ts';

export interface HostPolicy {
  /** Host names allowed with any port, lower case; IPv6 in brackets. */
  names: ReadonlySet<string>;
  /** `host:port` pairs allowed exactly (URL.host of each public origin, so default ports are omitted). */
  hosts: ReadonlySet<string>;
}

export const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

/** The policy for a coordinator listening on `listenHost` and known publicly as `publicOrigins`. */
export function hostPolicy(publicOrigins: readonly string[] = [], listenHost = '127.0.0.1'): HostPolicy {
  const names = new Set(LOOPBACK_NAMES);
  const everywhere = listenHost === '0.0.0.0' || listenHost === '::';
  const own = everywhere ? Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address)) : [listenHost];
  for (const address of own) names.add(address.includes(':') ? `[${address.toLowerCase()}]` : address.toLowerCase());
  return { names, hosts: new Set(publicOrigins.map((o) => new URL(o).host)) };
}

export function isOwnHost(host: string | undefined, policy: HostPolicy): boolean {
  if (!host) return false;
  const lower = host.toLowerCase();
  if (policy.hosts.has(lower)) return true;
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::\d{1,5})?$/.exec(lower);
  return m !== null && policy.names.has(m[1]!);
}

export function registerHostCheck(app: FastifyInstance, policy: HostPolicy): void {
  app.addHook('onRequest', async (req) => {
    if (req.url === '/healthz') return;
    if (!isOwnHost(req.host, policy)) {
      throw new ApiFailure(421, 'unknown_host', 'this coordinator does not answer to that host name; its operator lists its public origins in COVEY_PUBLIC_ORIGINS', 'host');
    }
  });
}
