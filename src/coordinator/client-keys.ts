/**
 * Client identity. A client id alone is no credential: anyone who learns one could enrol for it, then
 * check in or report in its name. So a browser makes an ECDSA P-256 key pair at its first enrolment (the
 * private key non-extractable, kept in IndexedDB) and registers the public key with its id; every later
 * enrolment for that id — a renewal, another task — must sign a fresh challenge with that key. The same
 * key is meant to authenticate the client in secure aggregation.
 *
 * Clients from before keys enrol without a proof while their id has no key (they register at their next
 * enrolment with a newer app); `requireProof` (COVEY_REQUIRE_CLIENT_KEYS) refuses that too.
 */
import { createHash, createPublicKey, verify } from 'node:crypto';
import { enrolmentMessage, type EnrolRequest, type PublicKeyJwk } from '../core/protocol.ts';
import { ApiFailure } from './api-failure.ts';
import type { CoordinatorStore } from './store.ts';
import type { IssuedToken, TokenIssuer } from './tokens.ts';

/** Challenges answered, until they expire: each is good for one enrolment. */
const MAX_REMEMBERED_CHALLENGES = 100_000;

export class ClientKeys {
  private readonly spent = new Map<string, number>();

  constructor(
    private readonly store: CoordinatorStore,
    private readonly tokens: TokenIssuer,
    private readonly requireProof = false,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The client id a bearer token speaks for. A token carries the fingerprint of the key its client proved
   * (none for a keyless enrolment): it is refused once that is not the id's registered key, so a token
   * minted before the id registered one (or elsewhere, under a shared secret) stops working.
   */
  verify(authorization: string | undefined, taskId: string): string {
    const { clientId, keyFingerprint } = this.tokens.verifyClaims(authorization, taskId);
    const registered = this.store.clientKey(clientId);
    if ((registered === null ? null : fingerprint(JSON.parse(registered) as PublicKeyJwk)) !== keyFingerprint) {
      throw new ApiFailure(401, 'invalid_token', 'the token was not issued for this client\'s registered key; enrol again', 'authorization');
    }
    return clientId;
  }

  challenge(taskId: string, clientId: string): { challenge: string; expiresAt: string } {
    return this.tokens.issueChallenge(taskId, clientId);
  }

  /** A token for the enrolment, once the client has proved it holds its id's key; throws an ApiFailure otherwise. */
  enrol(taskId: string, req: EnrolRequest): IssuedToken {
    const registered = this.store.clientKey(req.clientId);
    if (!req.proof) {
      if (registered !== null) throw new ApiFailure(401, 'proof_required', 'this client id has a registered key: sign a challenge (POST …/enrol/challenge) to enrol', 'proof');
      if (this.requireProof) throw new ApiFailure(401, 'proof_required', 'this coordinator enrols only clients that prove a key: sign a challenge (POST …/enrol/challenge)', 'proof');
      return this.tokens.issue(taskId, req.clientId);
    }
    const { publicKey, challenge, signature } = req.proof;
    const { expiresAt } = this.tokens.checkChallenge(challenge, taskId, req.clientId);
    if (this.spent.has(challenge)) throw new ApiFailure(401, 'invalid_challenge', 'the challenge was used already; ask for a new one', 'proof.challenge');
    const key = registered === null ? publicKey : (JSON.parse(registered) as PublicKeyJwk);
    if (!isSignedBy(key, enrolmentMessage(challenge), signature)) {
      const why = registered === null ? 'the signature does not match the public key sent with it' : 'the signature is not made with the key registered for this client id';
      throw new ApiFailure(403, 'invalid_signature', why, 'proof.signature');
    }
    this.spend(challenge, expiresAt);
    if (registered === null && !this.store.registerClientKey(req.clientId, JSON.stringify(publicKey), this.now())) {
      throw new ApiFailure(409, 'key_conflict', 'another key was registered for this client id meanwhile', 'proof.publicKey');
    }
    return this.tokens.issue(taskId, req.clientId, fingerprint(key));
  }

  private spend(challenge: string, expiresAt: number): void {
    const now = this.now();
    for (const [c, exp] of this.spent) {
      if (exp > now && this.spent.size < MAX_REMEMBERED_CHALLENGES) break;
      this.spent.delete(c);
    }
    this.spent.set(challenge, expiresAt);
  }
}

/** A short, stable name of a public key: base64url of SHA-256 over its coordinates, 22 characters. */
export function fingerprint(jwk: PublicKeyJwk): string {
  return createHash('sha256').update(`${jwk.x}.${jwk.y}`).digest('base64url').slice(0, 22);
}

function isSignedBy(jwk: PublicKeyJwk, message: string, signature: string): boolean {
  let key;
  try {
    key = createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, format: 'jwk' });
  } catch {
    throw new ApiFailure(400, 'invalid_request', 'the public key is not a point of P-256', 'proof.publicKey');
  }
  return verify('sha256', Buffer.from(message, 'utf8'), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64url'));
}
