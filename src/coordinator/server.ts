/**
 * The HTTP surface: the v1 API (see core/protocol.ts), the demo datasets, and the built PWA. Routing and
 * wire concerns only; what a request means is decided in federation.ts.
 */
import fastifyCompress from '@fastify/compress';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { existsSync, readFileSync } from 'node:fs';
import { constants as zlib } from 'node:zlib';
import { join } from 'node:path';
import { DELTA_WINDOW } from '../core/model-delta.ts';
import { parseChallengeRequest, parseCheckinRequest, parseEnrolRequest } from '../core/protocol.ts';
import type { ModelSpec } from '../model/tf-model.ts';
import { Admission, DEFAULT_LIMITS, type AdmissionLimits } from './admission.ts';
import { ApiFailure } from './api-failure.ts';
import { capBody, MODEL_BODY_CEILING, watchBody } from './body-watchdog.ts';
import { ClientKeys } from './client-keys.ts';
import { registerCors } from './cors.ts';
import { hostPolicy, registerHostCheck, type HostPolicy } from './host-check.ts';
import { clientErrorHandler, frameworkErrors, refuseExpectation, refuseUnroutable, routeNotFound, toApiFailure } from './http-refusals.ts';
import { Metrics, type GaugeReading } from './metrics.ts';
import { ModelDeltas } from './model-deltas.ts';
import { registerDashboardPage, registerOperatorRoutes, type OperatorOptions } from './operator-routes.ts';
import { requireOperator } from './operator-token.ts';
import { registerSecAggRoutes } from './secagg-routes.ts';
import { registerSecurityHeaders } from './security-headers.ts';
import { registerPressure } from './pressure.ts';
import { registerRateLimits } from './rate-limits.ts';
import type { TokenIssuer } from './tokens.ts';
import type { Federation } from './federation.ts';
import type { CoordinatorStore } from './store.ts';

export interface ServedTask {
  federation: Federation;
  spec: ModelSpec;
}

export interface ServerOptions {
  store: CoordinatorStore;
  /** Where counters are kept; also updated by the coordinator (rounds closed). */
  metrics?: Metrics;
  /** Rate limits and back-pressure (defaults: DEFAULT_LIMITS). */
  limits?: AdmissionLimits;
  /** Issues and checks client tokens. */
  tokens: TokenIssuer;
  /** Refuse enrolments without a signed challenge, even for client ids with no key yet (see client-keys.ts). */
  requireClientKeys?: boolean;
  /** The Host names this coordinator answers to (default: the loopback names); see host-check.ts. */
  hosts?: HostPolicy;
  tasks: ReadonlyMap<string, ServedTask>;
  /** The built PWA (Vite's `dist/`); not served when absent. */
  appDir?: string;
  /** Demo client shards, served under /datasets/ (the held-out set is not). */
  datasetsDir?: string;
  /** The SDK's library build (`lib/`), served under /sdk/ to allowed origins. */
  sdkDir?: string;
  logger?: boolean | object;
  /**
   * Behind a reverse proxy (TLS termination): trust its X-Forwarded-For/-Proto/-Host, as Fastify's
   * `trustProxy` (true, or the proxies' addresses). Needed so rate limits see the person's address and
   * the app's own https origin is recognised as same-origin.
   */
  trustProxy?: boolean | string;
  /** How often load is sampled for shedding (pressure.ts); 1 s unless a test wants it sooner. */
  pressureSampleMs?: number;
  /** The operator's token, view and task registry (operator-routes.ts); without it there is no operator API and /metrics is not served. */
  operator?: OperatorOptions;
}

export type { MetricsAccess } from './operator-routes.ts';

const IMMUTABLE = 'public, max-age=31536000, immutable';
const UPLOAD_PATH = /^\/v1\/tasks\/([^/?]+)\/rounds\/([^/?]+)\/updates\//;


export async function buildServer(opts: ServerOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: opts.logger ?? false, bodyLimit: 64 * 1024, trustProxy: opts.trustProxy ?? false, clientErrorHandler, frameworkErrors,
    // A request without Host is refused by the host check, in the API's shape, rather than by Node with an empty 400.
    http: { requireHostHeader: false },
    // A connection idle this long is closed: a client that stops reading its answers holds nothing for ever.
    connectionTimeout: (opts.limits ?? DEFAULT_LIMITS).bodyTimeoutMs + 10_000,
  });
  app.server.on('checkExpectation', refuseExpectation);
  // Text on the wire is compressed (model.json, the API's JSON, the app's scripts). Binary bodies are not:
  // weights do not compress, and a model delta is deflated already. Request bodies are never inflated, so an
  // upload's size is what the limits see. Brotli at quality 4: most of its gain at a fraction of 11's CPU.
  await app.register(fastifyCompress, {
    globalDecompression: false,
    threshold: 1024,
    customTypes: /^text\/|(?:\+|\/)json(?:;|$)|javascript|svg\+xml/,
    brotliOptions: { params: { [zlib.BROTLI_PARAM_QUALITY]: 4 } },
  });

  // The server's 64 KiB by default: only the upload route, with its own limit, takes more.
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  const metrics = opts.metrics ?? new Metrics();
  const isUpload = (req: FastifyRequest) => req.method === 'PUT' && req.url.startsWith('/v1/');
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const failure = toApiFailure(err);
    // A refusal we chose (busy) is a warning without a stack; only what we did not foresee is an error.
    if (err instanceof ApiFailure && failure.status >= 500) req.log.warn({ code: failure.code }, failure.message);
    else if (failure.status >= 500) req.log.error(err);
    // Refused before its body was read (token, slots, pace): do not read the rest of it, close the connection.
    if (!req.raw.complete) reply.header('connection', 'close');
    // Every refused upload is counted by reason, whichever layer refused it (token, size, type, busy, …).
    const [, task, round] = UPLOAD_PATH.exec(req.url) ?? [];
    if (isUpload(req) && task !== undefined && opts.tasks.has(task)) {
      metrics.inc('covey_updates_refused_total', { task, reason: failure.code });
      opts.operator?.view.refused(task, /^[1-9]\d{0,9}$/.test(round ?? '') ? Number(round) : null, failure.code, opts.tasks.get(task)!.federation.currentRoundId);
    }
    return sendError(reply, failure);
  });
  const limits = opts.limits ?? DEFAULT_LIMITS;
  const admission = new Admission(limits);
  /** The client id each admitted upload's verified token speaks for. */
  const uploaders = new WeakMap<FastifyRequest, string>();
  await registerSecurityHeaders(app);
  // Origin-form targets only: an absolute-form `GET http://x/v1/…` is routed like `/v1/…` but would slip past
  // every check that reads the path (rate limits, upload accounting).
  app.addHook('onRequest', async (req) => {
    if (!req.url.startsWith('/')) throw new ApiFailure(400, 'bad_url', 'the request target must be a path (origin-form)', 'url');
  });
  registerHostCheck(app, opts.hosts ?? hostPolicy());
  // CORS first: a refusal by admission control (429, 503) must still be readable by an embedding page.
  await registerCors(app, {
    forTask: (id) => new Set(opts.tasks.get(id)?.federation.task.allowedOrigins ?? []),
    any: () => new Set([...opts.tasks.values()].flatMap((t) => t.federation.task.allowedOrigins)),
  });
  const rateLimits = await registerRateLimits(app, limits);
  // After CORS, like admission control: a page embedding Covey can read that the coordinator is busy.
  await registerPressure(app, limits, opts.pressureSampleMs);
  const pace = { timeoutMs: limits.bodyTimeoutMs, minBytesPerSecond: limits.minBodyBytesPerSecond, graceMs: limits.bodyGraceMs };
  app.addHook('preParsing', async (req, _reply, payload) => {
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    return hasBody ? watchBody(payload, pace) : payload;
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.observe('covey_http_request_duration_seconds', { method: req.method, route, status: `${Math.floor(reply.statusCode / 100)}xx` }, reply.elapsedTime / 1000);
  });
  app.setNotFoundHandler((_req, reply) => sendError(reply, routeNotFound()));
  // After CORS and admission control, so a 404 is readable cross-origin and rate-limited like any request.
  app.addHook('onRequest', refuseUnroutable);

  const taskOf = (id: string): ServedTask => {
    const t = opts.tasks.get(id);
    if (!t) throw new ApiFailure(404, 'unknown_task', 'no such task', 'task');
    return t;
  };
  // Strict decimal: `0x7`, `7.0`, ` 7 ` and `0b111` are not 7.
  const versionOf = (raw: string, field = 'version'): number => {
    if (!/^(0|[1-9]\d{0,9})$/.test(raw)) throw new ApiFailure(400, 'bad_version', `${field} must be a non-negative decimal integer`, field);
    return Number(raw);
  };
  const roundOf = (raw: string): number => {
    if (!/^[1-9]\d{0,9}$/.test(raw)) throw new ApiFailure(400, 'bad_round', 'round must be a positive decimal integer', 'round');
    return Number(raw);
  };
  /** A model URL from another lineage names a version of a federation this coordinator no longer has. */
  const checkLineage = (federation: Federation, query: unknown) => {
    const lineage = (query as { lineage?: unknown }).lineage;
    if (lineage !== undefined && lineage !== federation.lineage) {
      throw new ApiFailure(404, 'unknown_version', `that model version is of another lineage (this federation is ${federation.lineage}; the coordinator was started afresh)`, 'lineage');
    }
  };

  app.get('/healthz', async () => ({ status: 'ok' }));
  metrics.readGauges(() => {
    const gauges: GaugeReading[] = [
      ['covey_process_resident_memory_bytes', {}, process.memoryUsage().rss],
      ['covey_uploads_in_flight', {}, admission.uploadsInFlight],
    ];
    for (const { federation } of opts.tasks.values()) {
      const s = federation.summary();
      gauges.push(['covey_model_version', { task: s.id }, s.modelVersion], ['covey_round_assigned_clients', { task: s.id }, s.round?.assigned ?? 0], ['covey_round_received_updates', { task: s.id }, s.round?.received ?? 0], ['covey_task_paused', { task: s.id }, Number(federation.paused)]);
    }
    return gauges;
  });
  const metricsAccess = opts.operator?.metricsAccess ?? 'none';
  if (metricsAccess !== 'none') {
    app.get('/metrics', async (req, reply) => {
      if (metricsAccess === 'operator') requireOperator(req, reply, opts.operator!.token);
      return reply.type(metrics.contentType).header('cache-control', 'no-store').send(await metrics.render());
    });
  }
  app.get('/v1/tasks', async () => [...opts.tasks.values()].map((t) => t.federation.summary()));
  app.get<{ Params: { task: string } }>('/v1/tasks/:task', async (req) => taskOf(req.params.task).federation.summary());
  app.get<{ Params: { task: string } }>('/v1/tasks/:task/history', async (req) => {
    taskOf(req.params.task);
    return opts.store.history(req.params.task);
  });

  const clientKeys = new ClientKeys(opts.store, opts.tokens, opts.requireClientKeys ?? false);
  // Not compressed: a token or challenge next to what a page sent is what compression side channels (BREACH) read.
  app.post<{ Params: { task: string } }>('/v1/tasks/:task/enrol/challenge', { compress: false }, async (req) => {
    taskOf(req.params.task);
    // Not counted against the client id's check-ins: anyone may name any id here, and must not spend its budget.
    const { clientId } = parseChallengeRequest(req.body);
    return clientKeys.challenge(req.params.task, clientId);
  });
  app.post<{ Params: { task: string } }>('/v1/tasks/:task/enrol', { compress: false }, async (req) => {
    taskOf(req.params.task);
    await rateLimits.enrolment(req);
    return clientKeys.enrol(req.params.task, parseEnrolRequest(req.body));
  });

  app.post<{ Params: { task: string } }>('/v1/tasks/:task/checkin', async (req, reply) => {
    const { federation } = taskOf(req.params.task);
    const checkin = parseCheckinRequest(req.body);
    const tokenClient = clientKeys.verify(req.headers.authorization, req.params.task);
    if (tokenClient !== checkin.clientId) throw new ApiFailure(403, 'token_mismatch', 'the token was issued to another client id', 'clientId');
    await rateLimits.checkin(req, checkin.clientId);
    const answer = federation.checkin(checkin);
    metrics.inc('covey_checkins_total', { task: req.params.task, status: answer.status });
    opts.operator?.view.checkin(req.params.task, answer.status === 'assigned' ? answer.roundId : federation.currentRoundId, checkin, answer.status);
    if (answer.status === 'wait') reply.header('retry-after', Math.ceil(answer.retryAfterMs / 1000));
    return answer;
  });

  app.get<{ Params: { task: string; version: string } }>('/v1/tasks/:task/models/:version/model.json', async (req, reply) => {
    const { federation, spec } = taskOf(req.params.task);
    const version = versionOf(req.params.version);
    checkLineage(federation, req.query);
    if (!federation.knowsVersion(version) || !opts.store.hasVersion(req.params.task, version)) {
      throw new ApiFailure(404, 'unknown_version', 'no such model version', 'version');
    }
    reply.header('cache-control', IMMUTABLE);
    return {
      format: 'layers-model',
      generatedBy: 'covey',
      convertedBy: null,
      modelTopology: spec.modelTopology,
      weightsManifest: [{ paths: ['weights.bin'], weights: spec.weightSpecs }],
    };
  });

  app.get<{ Params: { task: string; version: string } }>('/v1/tasks/:task/models/:version/weights.bin', async (req, reply) => {
    checkLineage(taskOf(req.params.task).federation, req.query);
    const weights = opts.store.modelWeights(req.params.task, versionOf(req.params.version));
    if (!weights) throw new ApiFailure(404, 'unknown_version', 'no such model version', 'version');
    metrics.inc('covey_model_bytes_sent_total', { task: req.params.task, kind: 'full' }, weights.byteLength);
    opts.operator?.view.sent(req.params.task, versionOf(req.params.version), weights.byteLength);
    reply.header('cache-control', IMMUTABLE).type('application/octet-stream');
    return weights;
  });

  /**
   * An upload slot for a model-sized body (an update, a masked input). It is given back once (the release is
   * idempotent) at whichever comes first: the request's 'close' (its body was read, or the connection
   * dropped mid-body) or the answer's. The answer's alone is not enough: a response queued behind a
   * pipelined one never closes if the client stops reading.
   */
  const admitBody = (req: FastifyRequest, reply: FastifyReply) => {
    const release = admission.enterUpload(req.ip);
    req.raw.once('close', release);
    reply.raw.once('close', release);
  };

  const deltas = new ModelDeltas(opts.store);
  app.get<{ Params: { task: string; version: string; from: string } }>('/v1/tasks/:task/models/:version/delta-from/:from', async (req, reply) => {
    const { federation } = taskOf(req.params.task);
    const to = versionOf(req.params.version);
    const from = versionOf(req.params.from, 'from');
    checkLineage(federation, req.query);
    if (!federation.knowsVersion(to) || !opts.store.hasVersion(req.params.task, to)) throw new ApiFailure(404, 'unknown_version', 'no such model version', 'version');
    // Deltas lead to the current version only: at most DELTA_WINDOW pairs to make per version, all of them
    // cached, so asking for many pairs cannot make the coordinator deflate models all day.
    const frame = to === federation.modelVersion ? await deltas.frame(req.params.task, federation.lineage, from, to) : null;
    if (!frame) throw new ApiFailure(404, 'no_delta', `no delta from v${from} to v${to} (deltas lead to the current version from up to ${DELTA_WINDOW} versions back): download weights.bin`, 'from');
    metrics.inc('covey_model_bytes_sent_total', { task: req.params.task, kind: 'delta' }, frame.byteLength);
    opts.operator?.view.sent(req.params.task, to, frame.byteLength);
    reply.header('cache-control', IMMUTABLE).type('application/octet-stream');
    return Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  });

  type UploadRoute = { Params: { task: string; round: string; updateId: string } };
  app.put<UploadRoute>(
    '/v1/tasks/:task/rounds/:round/updates/:updateId',
    {
      bodyLimit: MODEL_BODY_CEILING,
      // Before a byte of the body is read: the task, the round and the token must be right, and only then
      // does the upload take a slot. Slow or tokenless connections hold nothing.
      preParsing: async (req, reply, payload) => {
        const { federation } = taskOf(req.params.task);
        roundOf(req.params.round);
        uploaders.set(req, clientKeys.verify(req.headers.authorization, req.params.task));
        const tooLarge = (declared?: number) => `update ${declared === undefined ? 'larger than' : `of ${declared} bytes exceeds`} this task's limit of ${federation.maxUploadBytes} bytes`;
        const declared = Number(req.headers['content-length'] ?? 0);
        if (declared > federation.maxUploadBytes) throw new ApiFailure(413, 'body_too_large', tooLarge(declared), 'body');
        admitBody(req, reply);
        return capBody(payload, federation.maxUploadBytes, () => tooLarge());
      },
    },
    async (req) => {
      const { federation } = taskOf(req.params.task);
      const tokenClient = uploaders.get(req)!;
      const round = roundOf(req.params.round);
      if (!Buffer.isBuffer(req.body)) throw new ApiFailure(415, 'unsupported_media_type', 'send the update frame as application/octet-stream', 'content-type');
      if (req.body.byteLength > federation.maxUploadBytes) {
        throw new ApiFailure(413, 'body_too_large', `update of ${req.body.byteLength} bytes exceeds this task's ${federation.maxUploadBytes}`, 'body');
      }
      const body = new Uint8Array(req.body.buffer, req.body.byteOffset, req.body.byteLength);
      const task = { task: req.params.task };
      const ack = federation.acceptUpload(round, req.params.updateId, body, tokenClient);
      if (ack.duplicate) metrics.inc('covey_updates_duplicate_total', task);
      else {
        metrics.inc('covey_updates_accepted_total', task);
        metrics.inc('covey_update_bytes_total', { ...task, codec: federation.codec.name }, body.byteLength);
      }
      return ack;
    },
  );

  registerSecAggRoutes(app, { federationOf: (id) => taskOf(id).federation, roundOf, clientOf: (auth, task) => clientKeys.verify(auth, task), admitBody });

  if (opts.datasetsDir) registerDatasets(app, opts.datasetsDir);
  if (opts.sdkDir && existsSync(opts.sdkDir)) {
    await app.register(fastifyStatic, { root: opts.sdkDir, prefix: '/sdk/', decorateReply: false, wildcard: true, cacheControl: true, maxAge: '5m' });
  }
  if (opts.appDir && existsSync(opts.appDir)) {
    // Wildcard serving reads the directory on each request, so a new build deployed in place is served at once.
    await app.register(fastifyStatic, { root: opts.appDir, prefix: '/', wildcard: true, index: ['index.html'] });
  }
  if (opts.operator) {
    await registerOperatorRoutes(app, { operator: opts.operator, store: opts.store, taskOf, versionOf, tasks: opts.tasks });
    registerDashboardPage(app, opts.appDir);
  }
  return app;
}

/**
 * Demo data for "Load sample data": `/datasets/digits/manifest.json` and `/datasets/digits/{iid|noniid}/NN.bin`,
 * `/datasets/fraud/manifest.json` and `/datasets/fraud/clients/NN.csv`. The held-out sets are never served.
 */
function registerDatasets(app: FastifyInstance, dir: string): void {
  const send = (reply: FastifyReply, path: string, type: string) => {
    if (!existsSync(path)) throw new ApiFailure(404, 'not_found', 'no such sample file');
    return reply.type(type).header('cache-control', 'public, max-age=3600').send(readFileSync(path));
  };
  app.get('/datasets/digits/manifest.json', async (_req, reply) => {
    const manifest = JSON.parse(readFileSync(join(dir, 'digits', 'manifest.json'), 'utf8')) as { partitions: unknown };
    reply.header('cache-control', 'no-cache');
    return { partitions: manifest.partitions };
  });
  app.get<{ Params: { partition: string; file: string } }>('/datasets/digits/:partition/:file', async (req, reply) => {
    const { partition, file } = req.params;
    if (!/^(iid|noniid)$/.test(partition) || !/^\d{2}\.bin$/.test(file)) throw new ApiFailure(404, 'not_found', 'no such shard');
    return send(reply, join(dir, 'digits', partition, file), 'application/octet-stream');
  });
  app.get('/datasets/fraud/manifest.json', async (_req, reply) => {
    const manifest = JSON.parse(readFileSync(join(dir, 'fraud', 'manifest.json'), 'utf8')) as { clients: { client: number }[] };
    reply.header('cache-control', 'no-cache');
    return { clients: manifest.clients.map((c) => `${String(c.client).padStart(2, '0')}.csv`) };
  });
  app.get<{ Params: { file: string } }>('/datasets/fraud/clients/:file', async (req, reply) => {
    if (!/^\d{2}\.csv$/.test(req.params.file)) throw new ApiFailure(404, 'not_found', 'no such client file');
    return send(reply, join(dir, 'fraud', 'clients', req.params.file), 'text/csv; charset=utf-8');
  });
}

function sendError(reply: FastifyReply, failure: ApiFailure): FastifyReply {
  if (failure.retryAfterS !== undefined) reply.header('retry-after', failure.retryAfterS);
  return reply.code(failure.status).type('application/json').send(failure.toBody());
}
