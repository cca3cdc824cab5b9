/**
 * The operator's token: what the dashboard, the operator API (`/v1/operator/…`) and, by default, `/metrics`
 * require as `Authorization: Bearer <token>`. From COVEY_OPERATOR_TOKEN, or made once and kept (mode 0600)
 * in the data directory, so that it survives restarts and nobody has to choose one.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { dirname } from 'node:path';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiFailure } from './api-failure.ts';

/** A token shorter than this is refused at start: it could be guessed. */
export const MIN_OPERATOR_TOKEN_LENGTH = 16;

export function loadOperatorToken(file: string, env: NodeJS.ProcessEnv = process.env): string {
  const given = env.COVEY_OPERATOR_TOKEN?.trim();
  if (given) {
    if (given.length < MIN_OPERATOR_TOKEN_LENGTH) throw new Error(`COVEY_OPERATOR_TOKEN must be at least ${MIN_OPERATOR_TOKEN_LENGTH} characters`);
    return given;
  }
  if (existsSync(file)) {
    const kept = readFileSync(file, 'utf8').trim();
    if (kept.length < MIN_OPERATOR_TOKEN_LENGTH) throw new Error(`${file} must hold a token of at least ${MIN_OPERATOR_TOKEN_LENGTH} characters (delete it to have one made)`);
    return kept;
  }
  mkdirSync(dirname(file), { recursive: true });
  const token = randomBytes(24).toString('base64url');
  writeFileSync(file, token + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  return token;
}

/**
 * Throws 401 (with WWW-Authenticate) unless the request's Authorization is `Bearer <token>`. Compared in constant time (digests of both, so
 * that not even the length is told).
 */
export function requireOperator(req: FastifyRequest, reply: FastifyReply, token: string): void {
  // The scheme is case-insensitive (RFC 9110); the token is compared whole.
  const given = /^bearer +(\S+) *$/i.exec(req.headers.authorization ?? '')?.[1];
  const digest = (s: string) => createHash('sha256').update(s).digest();
  if (given === undefined || !timingSafeEqual(digest(given), digest(token))) {
    reply.header('www-authenticate', 'Bearer realm="covey-operator"').header('cache-control', 'no-store');
    throw new ApiFailure(401, 'operator_token_required', "this needs the operator's token: send Authorization: Bearer <token> (COVEY_OPERATOR_TOKEN, or <data dir>/operator-token)", 'authorization');
  }
}
