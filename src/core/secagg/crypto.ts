/**
 * The cryptography of secure aggregation, through Web Crypto only, so the same code runs in browsers,
 * workers and Node (its global `crypto.subtle`):
 *
 * - key agreement: ECDH key pairs made fresh for each round, on the round's curve (P-256 everywhere; X25519
 *   where every participant's runtime has it); the private key is exportable as its 32-byte scalar `d` so it
 *   can be secret-shared and, for a client that dropped out, rebuilt by the coordinator;
 * - seeds: SHA-256 of a label and the ECDH shared secret, so each use (encryption, pairwise mask) gets its own key;
 * - the PRG: AES-256-CTR of zeros under the seed, counter from 0: deterministic per seed;
 * - share encryption: AES-256-GCM with a random 96-bit nonce, the round and both parties bound as associated data.
 */

/** The part of Web Crypto's SubtleCrypto used here, declared narrowly: core/ sees neither the DOM's nor Node's typings. */
export interface CoreCryptoKey {
  readonly type: string;
}
interface CoreJsonWebKey {
  kty?: string;
  crv?: string;
  x?: string;
  y?: string;
  d?: string;
}
type Bytes = Uint8Array<ArrayBuffer>;
interface CoreSubtleCrypto {
  generateKey(algorithm: { name: string; namedCurve?: string }, extractable: boolean, usages: string[]): Promise<{ publicKey: CoreCryptoKey; privateKey: CoreCryptoKey }>;
  importKey(format: 'raw', data: Bytes, algorithm: { name: string; namedCurve?: string } | string, extractable: boolean, usages: string[]): Promise<CoreCryptoKey>;
  importKey(format: 'jwk', data: CoreJsonWebKey, algorithm: { name: string; namedCurve?: string }, extractable: boolean, usages: string[]): Promise<CoreCryptoKey>;
  exportKey(format: 'raw', key: CoreCryptoKey): Promise<ArrayBuffer>;
  exportKey(format: 'jwk', key: CoreCryptoKey): Promise<CoreJsonWebKey>;
  deriveBits(algorithm: { name: string; public: CoreCryptoKey }, key: CoreCryptoKey, length: number): Promise<ArrayBuffer>;
  encrypt(algorithm: { name: string; iv?: Bytes; counter?: Bytes; length?: number; additionalData?: Bytes }, key: CoreCryptoKey, data: Bytes): Promise<ArrayBuffer>;
  decrypt(algorithm: { name: string; iv: Bytes; additionalData?: Bytes }, key: CoreCryptoKey, data: Bytes): Promise<ArrayBuffer>;
  digest(algorithm: string, data: Bytes): Promise<ArrayBuffer>;
}
import type { Curve } from './protocol.ts';

const subtle = (globalThis as unknown as { crypto: { subtle: CoreSubtleCrypto } }).crypto.subtle;
/** A copy on a fresh ArrayBuffer: what Web Crypto's typings want. */
const own = (bytes: Uint8Array): Bytes => new Uint8Array(bytes);
const utf8 = (text: string): Bytes => own(new TextEncoder().encode(text));

export type { Curve } from './protocol.ts';

export interface AgreementKey {
  curve: Curve;
  /** The public key as the wire carries it: P-256 uncompressed (65 bytes), X25519 raw (32 bytes). */
  publicKey: Uint8Array;
  privateKey: CoreCryptoKey;
}

const algorithm = (curve: Curve) => (curve === 'X25519' ? { name: 'X25519' } : { name: 'ECDH', namedCurve: 'P-256' });
export const publicKeyBytes = (curve: Curve): number => (curve === 'X25519' ? 32 : 65);

if (new Uint8Array(Uint32Array.of(1).buffer)[0] !== 1) throw new Error('secure aggregation reads masks as little-endian words: this platform is big-endian');

export async function generateAgreementKey(curve: Curve): Promise<AgreementKey> {
  const pair = await subtle.generateKey(algorithm(curve), true, ['deriveBits']);
  return { curve, publicKey: new Uint8Array(await subtle.exportKey('raw', pair.publicKey)), privateKey: pair.privateKey };
}

/** The private scalar `d` (32 bytes): what is secret-shared. */
export async function privateScalar(key: AgreementKey): Promise<Uint8Array> {
  const jwk = await subtle.exportKey('jwk', key.privateKey);
  if (!jwk.d) throw new Error('the private key did not export its scalar');
  return fromBase64Url(jwk.d);
}

/** A private key rebuilt from its scalar and its public key (the coordinator, for a client that dropped out). */
export async function importPrivateScalar(curve: Curve, d: Uint8Array, publicKey: Uint8Array): Promise<AgreementKey> {
  checkPublicKey(curve, publicKey);
  const jwk: CoreJsonWebKey =
    curve === 'X25519'
      ? { kty: 'OKP', crv: 'X25519', x: toBase64Url(publicKey), d: toBase64Url(d) }
      : { kty: 'EC', crv: 'P-256', x: toBase64Url(publicKey.subarray(1, 33)), y: toBase64Url(publicKey.subarray(33, 65)), d: toBase64Url(d) };
  return { curve, publicKey, privateKey: await subtle.importKey('jwk', jwk, algorithm(curve), true, ['deriveBits']) };
}

export function checkPublicKey(curve: Curve, publicKey: Uint8Array): void {
  if (publicKey.length !== publicKeyBytes(curve) || (curve === 'P-256' && publicKey[0] !== 4)) throw new RangeError(`not a ${curve} public key`);
}

/** SHA-256(label ‖ ECDH(mine, theirs)): the same 32 bytes on both sides. Throws on a key not on the curve. */
export async function sharedSeed(mine: AgreementKey, theirPublicKey: Uint8Array, label: string): Promise<Uint8Array> {
  checkPublicKey(mine.curve, theirPublicKey);
  const theirs = await subtle.importKey('raw', own(theirPublicKey), algorithm(mine.curve), true, []);
  const bits = new Uint8Array(await subtle.deriveBits({ name: mine.curve === 'X25519' ? 'X25519' : 'ECDH', public: theirs }, mine.privateKey, 256));
  const labelBytes = utf8(label);
  const input = new Uint8Array(labelBytes.length + bits.length);
  input.set(labelBytes);
  input.set(bits, labelBytes.length);
  return new Uint8Array(await subtle.digest('SHA-256', input));
}

/** `words` pseudo-random 32-bit words from a 32-byte seed: AES-256-CTR of zeros, counter block 0. */
export async function expandSeed(seed: Uint8Array, words: number): Promise<Uint32Array> {
  if (seed.length !== 32) throw new RangeError('a PRG seed is 32 bytes');
  const key = await subtle.importKey('raw', own(seed), 'AES-CTR', false, ['encrypt']);
  const stream = await subtle.encrypt({ name: 'AES-CTR', counter: new Uint8Array(16), length: 64 }, key, new Uint8Array(words * 4));
  return new Uint32Array(stream);
}

/** AES-256-GCM under a 32-byte key: nonce (12 bytes) ‖ ciphertext ‖ tag. */
export async function seal(keyBytes: Uint8Array, plaintext: Uint8Array, associated: string): Promise<Uint8Array> {
  const key = await subtle.importKey('raw', own(keyBytes), 'AES-GCM', false, ['encrypt']);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv, additionalData: utf8(associated) }, key, own(plaintext)));
  const out = new Uint8Array(12 + sealed.length);
  out.set(iv);
  out.set(sealed, 12);
  return out;
}

/** The plaintext of {@link seal}; throws when the key, the associated data or a byte is wrong. */
export async function open(keyBytes: Uint8Array, box: Uint8Array, associated: string): Promise<Uint8Array> {
  if (box.length < 12 + 16) throw new RangeError('sealed message too short');
  const key = await subtle.importKey('raw', own(keyBytes), 'AES-GCM', false, ['decrypt']);
  return new Uint8Array(await subtle.decrypt({ name: 'AES-GCM', iv: own(box.subarray(0, 12)), additionalData: utf8(associated) }, key, own(box.subarray(12))));
}

export function toBase64Url(bytes: Uint8Array): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    const chars = i + 2 < bytes.length ? 4 : i + 1 < bytes.length ? 3 : 2;
    for (let k = 0; k < chars; k++) out += alphabet[(n >> (18 - 6 * k)) & 63];
  }
  return out;
}

export function fromBase64Url(text: string): Uint8Array {
  const clean = text.replace(/-/g, '+').replace(/_/g, '/');
  if (!/^[A-Za-z0-9+/]*$/.test(clean) || clean.length % 4 === 1) throw new RangeError('not base64url');
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let bits = 0, value = 0, at = 0;
  for (const c of clean) {
    value = (value << 6) | alphabet.indexOf(c);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (value >> bits) & 0xff;
    }
  }
  return out;
}
