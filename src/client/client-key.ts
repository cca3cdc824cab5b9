/**
 * This browser's proof of identity (see coordinator/client-keys.ts): an ECDSA P-256 key pair made once,
 * whose private half WebCrypto never lets out (non-extractable, so even a script on the page can only use
 * it, not copy it), and the signature of an enrolment challenge with it. Runs in pages, workers, the
 * service worker and Node (WebCrypto is global in each).
 */
import { enrolmentMessage, type EnrolmentProof } from '../core/protocol.ts';
import { toBase64 } from './base64.ts';

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;

/** WebCrypto exists only in secure contexts (https, localhost): elsewhere a client enrols without a key. */
export function canSign(): boolean {
  return typeof globalThis.crypto?.subtle?.sign === 'function';
}

export function makeSigningKey(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(ALGORITHM, false, ['sign', 'verify']);
}

export function isSigningKey(v: unknown): v is CryptoKeyPair {
  if (typeof v !== 'object' || v === null) return false;
  const { privateKey, publicKey } = v as Partial<CryptoKeyPair>;
  return privateKey instanceof CryptoKey && publicKey instanceof CryptoKey && privateKey.algorithm.name === 'ECDSA';
}

/** The public key, the challenge, and the challenge signed with the private key. */
export async function enrolmentProof(keys: CryptoKeyPair, challenge: string): Promise<EnrolmentProof> {
  const jwk = await crypto.subtle.exportKey('jwk', keys.publicKey);
  const signature = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, keys.privateKey, new TextEncoder().encode(enrolmentMessage(challenge)));
  return { publicKey: { kty: 'EC', crv: 'P-256', x: jwk.x!, y: jwk.y! }, challenge, signature: toBase64Url(new Uint8Array(signature)) };
}

function toBase64Url(bytes: Uint8Array): string {
  return toBase64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
