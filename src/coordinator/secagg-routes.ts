/**
 * The HTTP face of secure aggregation's phases (core/secagg/protocol.ts), under
 * `/v1/tasks/{task}/rounds/{round}/secagg/`. Every call but `status` carries the client's token, and acts for
 * the client the token was issued to. A message out of phase, repeated or malformed is refused `409
 * secagg_<reason>` (400 for a body that does not parse). A step not ready yet (the roster before the keys
 * phase closes) answers `202 {pending: true, phase, …}` with the round's status: clients poll on it (a 4xx
 * would be logged as an error by browsers at every poll), and stop when the phase is `aborted` or `done`,
 * or `closed` (the round ended while they waited).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parseKeysMessage, parseSharesMessage, parseUnmaskMessage } from '../core/secagg/protocol.ts';
import { ValidationError } from '../core/validate.ts';
import { ApiFailure } from './api-failure.ts';
import { capBody, MODEL_BODY_CEILING } from './body-watchdog.ts';
import type { Federation } from './federation.ts';

export interface SecAggRouteDeps {
  federationOf(task: string): Federation;
  roundOf(raw: string): number;
  /** The client id the request's token speaks for, for this task; throws 401 without one. */
  clientOf(authorization: string | undefined, task: string): string;
  /** Takes an upload slot for a model-sized body (admission.ts), given back when the request is done; throws 503/429 when none is free. */
  admitBody(req: FastifyRequest, reply: FastifyReply): void;
}

type Params = { Params: { task: string; round: string } };

export function registerSecAggRoutes(app: FastifyInstance, deps: SecAggRouteDeps): void {
  const base = '/v1/tasks/:task/rounds/:round/secagg';
  const parsed = <T>(parse: (b: unknown) => T, body: unknown): T => {
    try {
      return parse(body);
    } catch (e) {
      if (e instanceof ValidationError) throw new ApiFailure(400, 'invalid_request', e.message, e.field);
      throw e;
    }
  };
  const own = (clientId: string, tokenClient: string) => {
    if (clientId !== tokenClient) throw new ApiFailure(403, 'token_mismatch', 'the token was issued to another client id', 'clientId');
  };
  /** A GET step: its answer, or 202 with the round's status while the phase before it is still open. */
  const step = async <T>(reply: FastifyReply, federation: Federation, round: number, get: () => T) => {
    try {
      return get();
    } catch (e) {
      if (!(e instanceof ApiFailure)) throw e;
      if (e.code === 'secagg_wrong_phase') return reply.code(202).send({ pending: true, ...federation.secureStatus(round) });
      // The round ended (summed, or aborted and replaced) while the client waited: say so in the same shape.
      if (e.code === 'round_closed') return reply.code(202).send({ pending: true, phase: 'closed', aborted: e.message });
      throw e;
    }
  };
  const ctx = (req: { params: { task: string; round: string }; headers: { authorization?: string } }) => ({
    federation: deps.federationOf(req.params.task),
    round: deps.roundOf(req.params.round),
    client: deps.clientOf(req.headers.authorization, req.params.task),
  });

  app.get<Params>(`${base}/status`, async (req) => deps.federationOf(req.params.task).secureStatus(deps.roundOf(req.params.round)));
  app.post<Params>(`${base}/keys`, async (req) => {
    const { federation, round, client } = ctx(req);
    const m = parsed(parseKeysMessage, req.body);
    own(m.clientId, client);
    return federation.secureKeys(round, m);
  });
  app.get<Params>(`${base}/roster`, async (req, reply) => {
    const { federation, round, client } = ctx(req);
    return step(reply, federation, round, () => federation.secureRoster(round, client));
  });
  app.post<Params>(`${base}/shares`, async (req) => {
    const { federation, round, client } = ctx(req);
    const m = parsed(parseSharesMessage, req.body);
    own(m.clientId, client);
    return federation.secureShares(round, m);
  });
  app.get<Params>(`${base}/inbox`, async (req, reply) => {
    const { federation, round, client } = ctx(req);
    return step(reply, federation, round, () => federation.secureInbox(round, client));
  });
  app.put<Params>(
    `${base}/masked`,
    {
      bodyLimit: MODEL_BODY_CEILING,
      // Before its body is read: the task, the round and the token must be right, and the body exactly one model's words.
      preParsing: async (req, reply, payload) => {
        const { federation } = ctx(req);
        const size = federation.parameterCount * 4;
        const declared = Number(req.headers['content-length'] ?? 0);
        if (declared > size) throw new ApiFailure(413, 'body_too_large', `a masked input is ${size} bytes, not ${declared}`, 'body');
        // Like an update: at most so many model-sized bodies are received at once, from anyone and per address.
        deps.admitBody(req, reply);
        return capBody(payload, size, () => `a masked input is ${size} bytes, no more`);
      },
    },
    async (req) => {
      const { federation, round, client } = ctx(req);
      if (!Buffer.isBuffer(req.body)) throw new ApiFailure(415, 'unsupported_media_type', 'send the masked input as application/octet-stream: 32-bit little-endian words', 'content-type');
      if (req.body.byteLength !== federation.parameterCount * 4) throw new ApiFailure(400, 'invalid_frame', `a masked input is ${federation.parameterCount * 4} bytes, not ${req.body.byteLength}`, 'body');
      const words = new Uint32Array(federation.parameterCount);
      new Uint8Array(words.buffer).set(req.body);
      return federation.secureMasked(round, client, words);
    },
  );
  app.get<Params>(`${base}/survivors`, async (req, reply) => {
    const { federation, round, client } = ctx(req);
    return step(reply, federation, round, () => federation.secureSurvivors(round, client));
  });
  app.post<Params>(`${base}/unmask`, async (req) => {
    const { federation, round, client } = ctx(req);
    const m = parsed(parseUnmaskMessage, req.body);
    own(m.clientId, client);
    return federation.secureUnmask(round, m);
  });
}
