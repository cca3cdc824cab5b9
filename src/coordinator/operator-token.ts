/**
 * The operator's token: what the dashboard, the operator API (`/v1/operator/…`) and, by default, `/metrics`
 * require as `Authorization: Bearer <token>`. From COVEY_OPERATOR_TOKEN, or made once and kept (mode 0600)
 * in the data directory, so that it survives restarts and nobody has to choose one.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { dirname } from 'node:path';
import { ApiFailure } from './api-failure.ts';

/** A token shorter than this is refused at start: it could be guessed. */
export const MIN_OPERATOR_TOKEN_LENGTH = 16;

export function loadOperatorToken(file: string, env: NodeJS.ProcessEnv = process.env): string {
  const given = env.COVEY_OPERATOR_TOKEN?.trim();
  if (given) {
    if (given.length < MIN_OPERATOR_TOKEN_LENGTH) throw new Error(`COVEY_OPERATOR_TOKEN must be at least ${MIN_OPERATOR_TOKEN_LENGTH} characters`);
    return given;
  }
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dirname(file), { recursive: true });
  const token = randomBytes(24).toString('base64url');
  writeFileSync(file, token + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  return token;
}

/**
 * Throws 401 unless `authorization` is `Bearer <token>`. Compared in constant time (digests of both, so
 * that not even the length is told).
 */
export function requireOperator(authorization: string | undefined, token: string): void {
  const given = /^Bearer ([\x21-\x7e]+)$/.exec(authorization ?? '')?.[1];
  const digest = (s: string) => createHash('sha256').update(s).digest();
  if (given === undefined || !timingSafeEqual(digest(given), digest(token))) {
    throw new ApiFailure(401, 'operator_token_required', 'this is the operator API: send Authorization: Bearer <operator token> (printed by npm start; COVEY_OPERATOR_TOKEN or <data dir>/operator-token)', 'authorization');
  }
}
