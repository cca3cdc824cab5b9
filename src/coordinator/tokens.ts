/**
 * Client tokens. A client enrols once per task (`POST /v1/tasks/{task}/enrol`) and gets a token that binds
 * its client id to the task until an expiry, signed with HMAC-SHA256 under the coordinator's secret. Check-ins
 * and uploads must carry it (`Authorization: Bearer …`), and may speak only for that client id: nobody can
 * report as, or use up the rounds of, another client. Format: base64url(JSON {t, c, exp}) "." base64url(MAC).
 *
 * Enrolment challenges (client-keys.ts) are signed the same way with a purpose, {p: "challenge", t, c, exp,
 * n}, so that neither can stand in for the other.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ApiFailure } from './api-failure.ts';

export const DEFAULT_TOKEN_TTL_MS = 30 * 24 * 3600_000;
/** How long a client has to sign an enrolment challenge. */
export const CHALLENGE_TTL_MS = 5 * 60_000;

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

  /** A token for `clientId` in `taskId`; `keyFingerprint` binds it to the key the client proved (client-keys.ts). */
  issue(taskId: string, clientId: string, keyFingerprint?: string): IssuedToken {
    const exp = this.now() + this.ttlMs;
    const payload = Buffer.from(JSON.stringify({ t: taskId, c: clientId, exp, ...(keyFingerprint ? { k: keyFingerprint } : {}) })).toString('base64url');
    return { token: `${payload}.${this.mac(payload)}`, expiresAt: new Date(exp).toISOString() };
  }

  /** The client id a valid token for `taskId` speaks for; throws a 401 ApiFailure otherwise. */
  verify(authorization: string | undefined, taskId: string): string {
    return this.verifyClaims(authorization, taskId).clientId;
  }

  /** The client id and the fingerprint of the key (if any) that a valid token for `taskId` was issued against. */
  verifyClaims(authorization: string | undefined, taskId: string): { clientId: string; keyFingerprint: string | null } {
    const match = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/.exec(authorization ?? '');
    if (!authorization) throw new ApiFailure(401, 'token_required', 'enrol first (POST /v1/tasks/{task}/enrol) and send the token as "Authorization: Bearer …"', 'authorization');
    if (!match) throw new ApiFailure(401, 'invalid_token', 'the Authorization header is not a Covey bearer token', 'authorization');
    const claims = this.open(match[1]!);
    if (!claims || claims.p !== undefined) throw new ApiFailure(401, 'invalid_token', 'the token was not issued by this coordinator', 'authorization');
    if (claims.t !== taskId) throw new ApiFailure(401, 'invalid_token', `the token is for another task`, 'authorization');
    if (claims.exp <= this.now()) throw new ApiFailure(401, 'token_expired', 'the token has expired; enrol again', 'authorization');
    return { clientId: claims.c, keyFingerprint: claims.k ?? null };
  }

  /** A challenge for `clientId` to sign with its key, good for one enrolment in `taskId` within {@link CHALLENGE_TTL_MS}. */
  issueChallenge(taskId: string, clientId: string): { challenge: string; expiresAt: string } {
    const exp = this.now() + CHALLENGE_TTL_MS;
    const payload = Buffer.from(JSON.stringify({ p: 'challenge', t: taskId, c: clientId, exp, n: randomBytes(12).toString('base64url') })).toString('base64url');
    return { challenge: `${payload}.${this.mac(payload)}`, expiresAt: new Date(exp).toISOString() };
  }

  /** Checks that `challenge` was issued here for this task and client and has not expired; throws a 401 otherwise. */
  checkChallenge(challenge: string, taskId: string, clientId: string): { expiresAt: number } {
    const claims = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(challenge) ? this.open(challenge) : null;
    if (!claims || claims.p !== 'challenge' || claims.t !== taskId || claims.c !== clientId) {
      throw new ApiFailure(401, 'invalid_challenge', 'the challenge was not issued by this coordinator for this client and task', 'challenge');
    }
    if (claims.exp <= this.now()) throw new ApiFailure(401, 'invalid_challenge', 'the challenge has expired; ask for a new one', 'challenge');
    return { expiresAt: claims.exp };
  }

  /** The claims of a `payload.mac` string whose MAC is ours; null otherwise. */
  private open(signed: string): { p?: string; t: string; c: string; exp: number; k?: string } | null {
    const [payload, mac] = signed.split('.') as [string, string];
    const expected = Buffer.from(this.mac(payload));
    if (expected.byteLength !== mac.length || !timingSafeEqual(expected, Buffer.from(mac))) return null;
    try {
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { p?: string; t: string; c: string; exp: number; k?: string };
      return typeof claims.t === 'string' && typeof claims.c === 'string' && typeof claims.exp === 'number' ? claims : null;
    } catch {
      return null;
    }
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
