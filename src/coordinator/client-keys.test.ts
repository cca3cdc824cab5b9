import { describe, expect, it } from 'vitest';
import { enrolmentProof, makeSigningKey } from '../client/client-key.ts';
import { ApiFailure } from './api-failure.ts';
import { ClientKeys } from './client-keys.ts';
import { SqliteStore } from './sqlite-store.ts';
import { TokenIssuer } from './tokens.ts';

function setup(requireProof = false) {
  let now = 1_000_000;
  const store = new SqliteStore(':memory:');
  const tokens = new TokenIssuer(Buffer.alloc(32, 3), 60_000, () => now);
  const keys = new ClientKeys(store, tokens, requireProof, () => now);
  return { store, tokens, keys, advance: (ms: number) => (now += ms) };
}

async function refusal(fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof ApiFailure) return `${e.status} ${e.code}`;
    throw e;
  }
  return 'enrolled';
}

describe('client keys', () => {
  it('register a key at the first signed enrolment; later ones need a signature with it', async () => {
    const { keys, tokens, store } = setup();
    const mine = await makeSigningKey();
    const thief = await makeSigningKey();
    const first = keys.enrol('digits', { clientId: 'client-aaaa', proof: await enrolmentProof(mine, keys.challenge('digits', 'client-aaaa').challenge) });
    expect(tokens.verify(`Bearer ${first.token}`, 'digits')).toBe('client-aaaa');
    expect(JSON.parse(store.clientKey('client-aaaa')!)).toMatchObject({ kty: 'EC', crv: 'P-256' });

    // Someone who knows the id but not the key: no proof, or a proof made with their own key.
    expect(await refusal(() => keys.enrol('digits', { clientId: 'client-aaaa' }))).toBe('401 proof_required');
    const stolen = await enrolmentProof(thief, keys.challenge('digits', 'client-aaaa').challenge);
    expect(await refusal(() => keys.enrol('digits', { clientId: 'client-aaaa', proof: stolen }))).toBe('403 invalid_signature');
    // …even when they present the registered public key beside their own signature.
    const mixed = { ...stolen, publicKey: (await enrolmentProof(mine, stolen.challenge)).publicKey };
    expect(await refusal(() => keys.enrol('digits', { clientId: 'client-aaaa', proof: mixed }))).toBe('403 invalid_signature');

    // The client itself renews, for this task or another.
    const renewed = keys.enrol('fraud', { clientId: 'client-aaaa', proof: await enrolmentProof(mine, keys.challenge('fraud', 'client-aaaa').challenge) });
    expect(tokens.verify(`Bearer ${renewed.token}`, 'fraud')).toBe('client-aaaa');
  });

  it('take each challenge once, for its own task and client, before it expires', async () => {
    const { keys, advance } = setup();
    const mine = await makeSigningKey();
    const proof = await enrolmentProof(mine, keys.challenge('digits', 'client-aaaa').challenge);
    expect(await refusal(() => keys.enrol('fraud', { clientId: 'client-aaaa', proof }))).toBe('401 invalid_challenge');
    expect(await refusal(() => keys.enrol('digits', { clientId: 'client-bbbb', proof }))).toBe('401 invalid_challenge');
    expect(await refusal(() => keys.enrol('digits', { clientId: 'client-aaaa', proof }))).toBe('enrolled');
    expect(await refusal(() => keys.enrol('digits', { clientId: 'client-aaaa', proof }))).toBe('401 invalid_challenge');
    const late = await enrolmentProof(mine, keys.challenge('digits', 'client-aaaa').challenge);
    advance(5 * 60_000);
    expect(await refusal(() => keys.enrol('digits', { clientId: 'client-aaaa', proof: late }))).toBe('401 invalid_challenge');
    // A token is not a challenge.
    const token = keys.enrol('digits', { clientId: 'client-cccc' }).token;
    expect(await refusal(() => keys.enrol('digits', { clientId: 'client-cccc', proof: { ...proof, challenge: token } }))).toBe('401 invalid_challenge');
  });

  it('enrol a client from before keys until it registers one, unless proofs are required', async () => {
    const { keys } = setup();
    expect(await refusal(() => keys.enrol('digits', { clientId: 'client-old1' }))).toBe('enrolled');
    expect(await refusal(() => keys.enrol('digits', { clientId: 'client-old1' }))).toBe('enrolled');
    const mine = await makeSigningKey();
    keys.enrol('digits', { clientId: 'client-old1', proof: await enrolmentProof(mine, keys.challenge('digits', 'client-old1').challenge) });
    expect(await refusal(() => keys.enrol('digits', { clientId: 'client-old1' }))).toBe('401 proof_required');

    const strict = setup(true).keys;
    expect(await refusal(() => strict.enrol('digits', { clientId: 'client-old2' }))).toBe('401 proof_required');
  });

  it('refuse a public key that is not a point of the curve', async () => {
    const { keys } = setup();
    const proof = await enrolmentProof(await makeSigningKey(), keys.challenge('digits', 'client-aaaa').challenge);
    const offCurve = { ...proof, publicKey: { ...proof.publicKey, y: proof.publicKey.x } };
    expect(await refusal(() => keys.enrol('digits', { clientId: 'client-aaaa', proof: offCurve }))).toBe('400 invalid_request');
  });

  it('accept a token only while it matches the id\'s registered key: a keyless token stops working once a key is registered', async () => {
    const { keys } = setup();
    const keyless = keys.enrol('digits', { clientId: 'client-aaaa' }).token;
    expect(keys.verify(`Bearer ${keyless}`, 'digits')).toBe('client-aaaa');
    const mine = await makeSigningKey();
    const keyed = keys.enrol('digits', { clientId: 'client-aaaa', proof: await enrolmentProof(mine, keys.challenge('digits', 'client-aaaa').challenge) }).token;
    expect(keys.verify(`Bearer ${keyed}`, 'digits')).toBe('client-aaaa');
    expect(await refusal(() => keys.verify(`Bearer ${keyless}`, 'digits'))).toBe('401 invalid_token');
  });
});
