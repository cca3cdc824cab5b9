// TextEncoder/TextDecoder exist in every runtime core/ runs in (browsers, workers, Node ≥ 11), but live in
// the DOM and Node typings, which core/ must not see. Declare just what core/ uses.
declare class TextEncoder {
  encode(input?: string): Uint8Array;
}
declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean });
  decode(input?: Uint8Array): string;
}
// Web Crypto, global in every runtime core/ runs in (Node ≥ 19 included): the random source, and the part of
// SubtleCrypto that secure aggregation uses (core/secagg/crypto.ts), declared as narrowly as it is used.
interface CoreCryptoKey {
  readonly type: string;
}
interface CoreJsonWebKey {
  kty?: string;
  crv?: string;
  x?: string;
  y?: string;
  d?: string;
  ext?: boolean;
  key_ops?: string[];
}
interface CoreSubtleCrypto {
  generateKey(algorithm: { name: string; namedCurve?: string }, extractable: boolean, usages: string[]): Promise<{ publicKey: CoreCryptoKey; privateKey: CoreCryptoKey }>;
  importKey(format: 'raw', data: Uint8Array, algorithm: { name: string; namedCurve?: string } | string, extractable: boolean, usages: string[]): Promise<CoreCryptoKey>;
  importKey(format: 'jwk', data: CoreJsonWebKey, algorithm: { name: string; namedCurve?: string }, extractable: boolean, usages: string[]): Promise<CoreCryptoKey>;
  exportKey(format: 'raw', key: CoreCryptoKey): Promise<ArrayBuffer>;
  exportKey(format: 'jwk', key: CoreCryptoKey): Promise<CoreJsonWebKey>;
  deriveBits(algorithm: { name: string; public: CoreCryptoKey }, key: CoreCryptoKey, length: number): Promise<ArrayBuffer>;
  encrypt(algorithm: { name: string; iv?: Uint8Array; counter?: Uint8Array; length?: number; additionalData?: Uint8Array }, key: CoreCryptoKey, data: Uint8Array): Promise<ArrayBuffer>;
  decrypt(algorithm: { name: string; iv: Uint8Array; additionalData?: Uint8Array }, key: CoreCryptoKey, data: Uint8Array): Promise<ArrayBuffer>;
  digest(algorithm: string, data: Uint8Array): Promise<ArrayBuffer>;
}
declare const crypto: { getRandomValues<T extends ArrayBufferView>(array: T): T; subtle: CoreSubtleCrypto };
