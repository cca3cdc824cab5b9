import { describe, expect, it } from 'vitest';
import { ApiFailure } from './api-failure.ts';
import { TokenIssuer } from './tokens.ts';

const secret = Buffer.alloc(32, 7);

function failure(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof ApiFailure) return `${e.status} ${e.code}`;
    throw e;
  }
  return 'accepted';
}

describe('client tokens', () => {
  it('bind a client id to a task until they expire', () => {
    let now = 1_000;
    const issuer = new TokenIssuer(secret, 60_000, () => now);
    const { token, expiresAt } = issuer.issue('digits', 'client-aaaa');
    expect(expiresAt).toBe(new Date(61_000).toISOString());
    expect(issuer.verify(`Bearer ${token}`, 'digits')).toBe('client-aaaa');
    expect(failure(() => issuer.verify(`Bearer ${token}`, 'fraud'))).toBe('401 invalid_token');
    now = 61_000;
    expect(failure(() => issuer.verify(`Bearer ${token}`, 'digits'))).toBe('401 token_expired');
  });

  it('refuse missing, malformed and forged tokens', () => {
    const issuer = new TokenIssuer(secret);
    const { token } = issuer.issue('digits', 'client-aaaa');
    const [payload] = token.split('.');
    const forgedPayload = Buffer.from(JSON.stringify({ t: 'digits', c: 'client-bbbb', exp: Date.now() + 1e6 })).toString('base64url');
    expect(failure(() => issuer.verify(undefined, 'digits'))).toBe('401 token_required');
    expect(failure(() => issuer.verify('Basic abc', 'digits'))).toBe('401 invalid_token');
    expect(failure(() => issuer.verify(`Bearer ${forgedPayload}.${token.split('.')[1]}`, 'digits'))).toBe('401 invalid_token');
    expect(failure(() => issuer.verify(`Bearer ${payload}.AAAA`, 'digits'))).toBe('401 invalid_token');
    expect(failure(() => new TokenIssuer(Buffer.alloc(32, 8)).verify(`Bearer ${token}`, 'digits'))).toBe('401 invalid_token');
  });
});
