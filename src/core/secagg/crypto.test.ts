import { describe, expect, it } from 'vitest';
import { expandSeed, fromBase64Url, generateAgreementKey, importPrivateScalar, open, privateScalar, seal, sharedSeed, toBase64Url, type Curve } from './crypto.ts';

const curves: Curve[] = ['P-256', 'X25519'];

describe('secure aggregation cryptography (Web Crypto)', () => {
  for (const curve of curves) {
    it(`${curve}: both sides derive the same seed; a key rebuilt from its scalar derives it too`, async () => {
      const a = await generateAgreementKey(curve);
      const b = await generateAgreementKey(curve);
      const ab = await sharedSeed(a, b.publicKey, 'mask');
      expect(await sharedSeed(b, a.publicKey, 'mask')).toEqual(ab);
      expect(await sharedSeed(a, b.publicKey, 'encrypt')).not.toEqual(ab);
      const rebuilt = await importPrivateScalar(curve, await privateScalar(a), a.publicKey);
      expect(await sharedSeed(rebuilt, b.publicKey, 'mask')).toEqual(ab);
      await expect(sharedSeed(a, new Uint8Array(a.publicKey.length), 'mask')).rejects.toThrow();
    });
  }

  it('expands a seed deterministically (AES-256-CTR of zeros), and differently for another seed', async () => {
    const seed = new Uint8Array(32).fill(7);
    const one = await expandSeed(seed, 1000);
    expect(await expandSeed(seed, 1000)).toEqual(one);
    expect((await expandSeed(seed, 10)).slice()).toEqual(one.slice(0, 10));
    expect(await expandSeed(new Uint8Array(32).fill(8), 1000)).not.toEqual(one);
  });

  it('matches the AES-256-CTR known answer of NIST SP 800-38A F.5.5 (first block)', async () => {
    // Key 603deb10…, counter f0f1…ff, plaintext 6bc1bee2…; ours uses counter 0 and zeros, so check the
    // primitive through the same call shape: CTR of zeros is the key stream, and stream ⊕ plaintext = ciphertext.
    const hex = (h: string) => Uint8Array.from(h.match(/../g)!.map((b) => parseInt(b, 16)));
    const key = await crypto.subtle.importKey('raw', hex('603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4'), 'AES-CTR', false, ['encrypt']);
    const out = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-CTR', counter: hex('f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff'), length: 64 }, key, hex('6bc1bee22e409f96e93d7e117393172a')));
    expect(Buffer.from(out).toString('hex')).toBe('601ec313775789a5b7a7f504bbf3d228');
  });

  it('seals and opens; a wrong key, other associated data or a flipped byte fails', async () => {
    const key = crypto.getRandomValues(new Uint8Array(32));
    const box = await seal(key, Uint8Array.of(1, 2, 3), 'round 4 a→b');
    expect(await open(key, box, 'round 4 a→b')).toEqual(Uint8Array.of(1, 2, 3));
    await expect(open(key, box, 'round 4 a→c')).rejects.toThrow();
    await expect(open(crypto.getRandomValues(new Uint8Array(32)), box, 'round 4 a→b')).rejects.toThrow();
    const flipped = box.slice();
    flipped[14]! ^= 1;
    await expect(open(key, flipped, 'round 4 a→b')).rejects.toThrow();
  });

  it('writes and reads base64url', () => {
    for (let n = 0; n < 40; n++) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 53 + n) & 0xff);
      expect(toBase64Url(bytes)).toBe(Buffer.from(bytes).toString('base64url'));
      expect(fromBase64Url(toBase64Url(bytes))).toEqual(bytes);
    }
  });
});
