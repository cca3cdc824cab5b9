/**
 * Client tokens. A client enrols once per task (`POST /v1/tasks/{task}/enrol`) and gets a token that binds
 * its client id to the task until an expiry, signed with HMAC-SHA256 under the coordinator's secret. Check-ins
 * and uploads must carry it (`Authorization: Bearer …`), and may speak only for that client id: nobody can
 * report as, or use up the rounds of, another client. Format: base64url(JSON {t, c, exp}) "." base64url(MAC).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ApiFailure } from './api-failure.ts';

export const DEFAULT_TOKEN_TTL_MS = 30 * 24 * 3600_000;

export interface IssuedToken {
  token: string;
  expiresAt: string;
}

export class TokenIssuer {
  constructor(
    private readonly secret: Buffer,
    private readonly ttlMs = DEFAULT_TOKEN_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {
    if (secret.byteLength < 16) throw new Error('the token secret must be at least 16 bytes');
  }

  issue(taskId: string, clientId: string): IssuedToken {
    const exp = this.now() + this.ttlMs;
    const payload = Buffer.from(JSON.stringify({ t: taskId, c: clientId, exp })).toString('base64url');
    return { token: `${payload}.${this.mac(payload)}`, expiresAt: new Date(exp).toISOString() };
  }

  /** The client id a valid token for `taskId` speaks for; throws a 401 ApiFailure otherwise. */
  verify(authorization: string | undefined, taskId: string): string {
    const match = /^Bearer ([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(authorization ?? '');
    if (!authorization) throw new ApiFailure(401, 'token_required', 'enrol first (POST /v1/tasks/{task}/enrol) and send the token as "Authorization: Bearer …"', 'authorization');
    if (!match) throw new ApiFailure(401, 'invalid_token', 'the Authorization header is not a Covey bearer token', 'authorization');
    const [, payload, mac] = match as unknown as [string, string, string];
    const expected = Buffer.from(this.mac(payload));
    if (expected.byteLength !== mac.length || !timingSafeEqual(expected, Buffer.from(mac))) {
      throw new ApiFailure(401, 'invalid_token', 'the token was not issued by this coordinator', 'authorization');
    }
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { t: string; c: string; exp: number };
    if (claims.t !== taskId) throw new ApiFailure(401, 'invalid_token', `the token is for task "${claims.t}"`, 'authorization');
    if (claims.exp <= this.now()) throw new ApiFailure(401, 'token_expired', 'the token has expired; enrol again', 'authorization');
    return claims.c;
  }

  private mac(payload: string): string {
    return createHmac('sha256', this.secret).update(payload).digest('base64url');
  }
}

/** The secret from COVEY_TOKEN_SECRET, else from `<file>`, made (random, 32 bytes, mode 0600) on first start. */
export function loadTokenSecret(file: string, env: NodeJS.ProcessEnv = process.env): Buffer {
  if (env.COVEY_TOKEN_SECRET) return Buffer.from(env.COVEY_TOKEN_SECRET, 'utf8');
  if (existsSync(file)) return Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  mkdirSync(dirname(file), { recursive: true });
  const secret = randomBytes(32);
  writeFileSync(file, secret.toString('base64') + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  return secret;
}
