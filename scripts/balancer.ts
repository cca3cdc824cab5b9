/**
 * A round-robin HTTP load balancer for trying several coordinator processes on one machine, and for the
 * tests and benchmark that do (e2e/processes.spec.ts, bench/processes.ts). Each request goes to the next
 * process in turn, counted per method (so uploads, PUT, alternate among the processes whatever the
 * requests between them), with no stickiness: any process must be able to serve any request, which is what the
 * PostgreSQL store promises. An upstream that refuses the connection is skipped for that request (the next
 * one is tried), so a process that died costs no request. In production put nginx (deploy/nginx.conf) or
 * any other balancer in front instead.
 *
 *   tsx scripts/balancer.ts 8080 http://127.0.0.1:8081 http://127.0.0.1:8082
 */
import { Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface Balancer {
  url: string;
  /** The updates (PUT …/updates/…) each upstream (by its origin) answered. */
  uploads: Map<string, number>;
  close(): Promise<void>;
}

export async function startBalancer(upstreams: string[], port = 0, host = '127.0.0.1'): Promise<Balancer> {
  if (upstreams.length === 0) throw new Error('a balancer needs at least one upstream');
  const targets = upstreams.map((u) => new URL(u));
  const uploads = new Map<string, number>();
  const next = new Map<string, number>();
  // Connections to the processes are kept open between requests, and closed with the balancer (else a process stopping waits for them).
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });

  const forward = (req: IncomingMessage, res: ServerResponse, body: Buffer, tries: number) => {
    const turn = next.get(req.method ?? '') ?? 0;
    next.set(req.method ?? '', turn + 1);
    const target = targets[turn % targets.length]!;
    const headers = { ...req.headers, 'x-forwarded-for': req.socket.remoteAddress ?? '', 'x-forwarded-host': req.headers.host ?? '', 'x-forwarded-proto': 'http' };
    const upstream = request({ agent, host: target.hostname, port: target.port, method: req.method, path: req.url, headers }, (answer) => {
      if (req.method === 'PUT' && /\/updates\//.test(req.url ?? '')) uploads.set(target.origin, (uploads.get(target.origin) ?? 0) + 1);
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', (e: NodeJS.ErrnoException) => {
      // Not reached at all (the process is gone): try the next; anything else, the client hears of it.
      if (e.code === 'ECONNREFUSED' && tries < targets.length) return forward(req, res, body, tries + 1);
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'bad_gateway', message: 'the coordinator did not answer' } }));
    });
    upstream.end(body);
  };

  // Bodies are read whole first (a retry on the next upstream needs them); uploads are at most a few MB.
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => forward(req, res, Buffer.concat(chunks), 1));
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  return {
    url: `http://${host}:${bound}`,
    uploads,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        agent.destroy();
        server.close(() => resolve());
      }),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [port, ...upstreams] = process.argv.slice(2);
  const b = await startBalancer(upstreams, Number(port ?? 8080), process.env.HOST ?? '127.0.0.1');
  console.log(`balancing ${b.url} over ${upstreams.join(', ')}`);
}
