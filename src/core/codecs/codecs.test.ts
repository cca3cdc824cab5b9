import { describe, expect, it } from 'vitest';
import { CodecError, type Codec } from '../codec.ts';
import { compressWithFeedback } from '../error-feedback.ts';
import { createRng } from '../rng.ts';
import { codecFor, CODEC_IDS } from './index.ts';
import { f16, toHalf } from './f16.ts';
import { f32 } from './f32.ts';
import { int8, INT8_CHUNK } from './int8.ts';

const gaussian = (n: number, seed: number, sigma = 0.01): Float32Array => {
  const rng = createRng(seed);
  return Float32Array.from({ length: n }, () => sigma * Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng()));
};
const all = (): Codec[] => ['f32', 'f16', 'int8', 'topk:0.01', 'topk-int8:0.01', 'topk:0.25'].map((n) => codecFor(n)!);

describe('codec registry', () => {
  it('names fixed codecs and parametrised ones, and nothing else', () => {
    expect(codecFor('f16')).toBe(f16);
    expect(codecFor('topk:0.01')?.id).toBe(3);
    expect(codecFor('topk-int8:.05')?.id).toBe(4);
    expect(codecFor('topk:1e-3')?.name).toBe('topk:0.001');
    for (const bad of ['f64', 'topk', 'topk:0', 'topk:0.6', 'topk:-0.1', 'topk:abc', 'topk:0.01x', 'int8:0.1', 'TOPK:0.1']) expect(codecFor(bad), bad).toBeUndefined();
    expect([...CODEC_IDS].sort()).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('f16', () => {
  it('rounds to the nearest half, ties to even, by hand', () => {
    const bits = (x: number) => new Uint32Array(Float32Array.of(x).buffer)[0]!;
    expect(toHalf(bits(1))).toBe(0x3c00);
    expect(toHalf(bits(-2))).toBe(0xc000);
    expect(toHalf(bits(65504))).toBe(0x7bff);
    expect(toHalf(bits(1e6))).toBe(0x7bff); // clamped, never infinity
    expect(toHalf(bits(2 ** -24))).toBe(0x0001); // the smallest subnormal
    expect(toHalf(bits(2 ** -25))).toBe(0x0000); // exactly half of it: ties to even, 0
    expect(toHalf(bits(1 + 2 ** -11))).toBe(0x3c00); // halfway between 1 and the next half: to even (1)
    expect(toHalf(bits(1 + 3 * 2 ** -11))).toBe(0x3c02); // halfway, odd below: up
    expect(toHalf(bits(2 - 2 ** -12))).toBe(0x4000); // rounding up carries into the exponent: 2
  });

  it('round-trips within 2^-11 of each value', () => {
    const x = gaussian(10_000, 1, 1);
    const back = f16.decode(f16.encode(x), x.length);
    for (let i = 0; i < x.length; i++) expect(Math.abs(back[i]! - x[i]!)).toBeLessThanOrEqual(Math.max(Math.abs(x[i]!) * 2 ** -11, 2 ** -25));
  });

  it('refuses infinities and NaNs in a payload, and non-finite input', () => {
    expect(() => f16.decode(Uint8Array.of(0x00, 0x7c), 1)).toThrow(/infinity or NaN/);
    expect(() => f16.encode(Float32Array.of(NaN))).toThrow(CodecError);
  });
});

describe('int8', () => {
  it('round-trips within its chunk scale', () => {
    const x = gaussian(3 * INT8_CHUNK + 7, 2);
    x[5] = 0.5; // one large value costs only its own chunk resolution
    const back = int8.decode(int8.encode(x, createRng(1)), x.length);
    for (let i = 0; i < x.length; i++) {
      const chunk = Math.floor(i / INT8_CHUNK);
      const scale = Math.max(...Array.from(x.subarray(chunk * INT8_CHUNK, (chunk + 1) * INT8_CHUNK), Math.abs)) / 127;
      expect(Math.abs(back[i]! - x[i]!)).toBeLessThanOrEqual(scale * 1.0001);
    }
  });

  it('is unbiased: the mean of many decodes converges to the input', () => {
    const x = Float32Array.of(1, 0.3, -0.123, 0.0049, -0.9999, 0);
    const rng = createRng(7);
    const trials = 20_000;
    const sum = new Float64Array(x.length);
    for (let t = 0; t < trials; t++) int8.decode(int8.encode(x, rng), x.length).forEach((v, i) => (sum[i]! += v));
    const scale = 1 / 127;
    // Each decode is within one scale step, so the mean's standard error is below scale/(2√trials).
    for (let i = 0; i < x.length; i++) expect(Math.abs(sum[i]! / trials - x[i]!)).toBeLessThan((4 * scale) / (2 * Math.sqrt(trials)));
    // And it does round: a single decode of 0.3 is not 0.3.
    expect(int8.decode(int8.encode(x, rng), x.length)[1]).not.toBeCloseTo(0.3, 6);
  });

  it('refuses −128, a bad chunk size and a NaN scale', () => {
    const good = int8.encode(Float32Array.of(1, -1), createRng(1));
    const withByte = (at: number, b: number) => Uint8Array.from(good, (v, i) => (i === at ? b : v));
    expect(() => int8.decode(withByte(8, 0x80), 2)).toThrow(/−128/);
    expect(() => int8.decode(withByte(1, 0), 2)).toThrow(/chunk size/);
    const nanScale = good.slice();
    new DataView(nanScale.buffer).setFloat32(4, NaN, true);
    expect(() => int8.decode(nanScale, 2)).toThrow(/scale/);
    // A finite scale whose 127 steps are not finite: refused, never decoded to Infinity.
    const hugeScale = good.slice();
    new DataView(hugeScale.buffer).setFloat32(4, 3e38, true);
    expect(() => int8.decode(hugeScale, 2)).toThrow(/scale/);
  });
});

describe('top-k', () => {
  const topk = codecFor('topk:0.25')!;

  it('keeps exactly the ⌈ρn⌉ largest magnitudes, exactly', () => {
    const x = Float32Array.of(0.1, -5, 0.2, 3, 0, 0, -0.3, 1);
    const back = topk.decode(topk.encode(x), x.length);
    expect(Array.from(back)).toEqual([0, -5, 0, 3, 0, 0, 0, 0]);
  });

  it('writes indices as LEB128 gaps: a hand-made payload', () => {
    // indices 2 and 200 of 800 (ρ 0.25 allows 200): gaps 2 and 197 (0xc5 0x01)
    const payload = new Uint8Array([2, 0, 0, 0, 2, 0xc5, 0x01, ...new Uint8Array(Float32Array.of(1.5, -2).buffer)]);
    const back = topk.decode(payload, 800);
    expect([back[2], back[200], back.filter((v) => v !== 0).length]).toEqual([1.5, -2, 2]);
    const x = new Float32Array(800);
    x[2] = 1.5;
    x[200] = -2;
    expect(Array.from(codecFor('topk:0.0025')!.encode(x))).toEqual(Array.from(payload));
  });

  it('refuses too many values, indices out of range, bad varints and non-finite values', () => {
    const payload = (count: number, gaps: number[], values: number[]) => new Uint8Array([count, 0, 0, 0, ...gaps, ...new Uint8Array(Float32Array.from(values).buffer)]);
    expect(() => topk.decode(payload(3, [0, 0, 0], [1, 1, 1]), 8)).toThrow(/at most 2/);
    expect(() => topk.decode(payload(2, [0, 7], [1, 1]), 8)).toThrow(/index 8/);
    expect(() => topk.decode(payload(1, [0x80, 0x80, 0x80, 0x80, 0x80, 0], [1]), 8)).toThrow(/5 bytes/);
    expect(() => topk.decode(payload(1, [0], [NaN]), 8)).toThrow(/not finite/);
    expect(() => topk.decode(payload(1, [0x80], []), 8)).toThrow(/ends inside index/);
  });

  it('keeps ⌈ρ·n⌉ as written, not as floating point rounds it (0.07 × 100 keeps 7)', () => {
    const x = Float32Array.from({ length: 100 }, (_, i) => i + 1);
    expect(new DataView(codecFor('topk:0.07')!.encode(x).buffer).getUint32(0, true)).toBe(7);
  });

  it('sends no zeros: a sparse delta takes fewer bytes', () => {
    const x = new Float32Array(1000);
    x[10] = 1;
    expect(codecFor('topk:0.1')!.encode(x).byteLength).toBe(4 + 1 + 4);
  });
});

describe('every codec', () => {
  const x = gaussian(5000, 3);

  it.each(all().map((c) => [c.name, c] as const))('%s: round trip within its stated error, size within its bound', (_name, codec) => {
    const payload = codec.encode(x, createRng(1));
    expect(payload.byteLength).toBeLessThanOrEqual(codec.maxEncodedBytes(x.length));
    const back = codec.decode(payload, x.length);
    expect(back).toHaveLength(x.length);
    if (codec === f32) expect(back).toEqual(x);
  });

  it.each(all().map((c) => [c.name, c] as const))('%s: refuses truncated, oversized and wrong-length payloads', (_name, codec) => {
    const payload = codec.encode(x, createRng(1));
    expect(() => codec.decode(payload.subarray(0, payload.byteLength - 1), x.length)).toThrow(CodecError);
    expect(() => codec.decode(new Uint8Array([...payload, 0]), x.length)).toThrow(CodecError);
    expect(() => codec.decode(new Uint8Array(0), x.length)).toThrow(CodecError);
    expect(() => codec.decode(payload, x.length / 2)).toThrow(CodecError);
  });
});

describe('error feedback', () => {
  it('carries exactly what top-k dropped', () => {
    const codec = codecFor('topk:0.01')!;
    const delta = gaussian(2000, 4);
    const residual = gaussian(2000, 5);
    const { payload, residual: kept } = compressWithFeedback(codec, delta, residual);
    const sent = codec.decode(payload, delta.length);
    for (let i = 0; i < delta.length; i++) {
      const corrected = Math.fround(delta[i]! + residual[i]!);
      // A coordinate is either sent whole (residual 0) or kept whole (nothing sent).
      expect(sent[i] === 0 ? kept![i] : sent[i]).toBe(corrected);
      expect(sent[i] === 0 || kept![i] === 0).toBe(true);
    }
  });

  it('loses nothing over many rounds: what was sent plus the residual is what was learnt', () => {
    const codec = codecFor('topk-int8:0.05')!;
    const rng = createRng(9);
    let residual: Float32Array | null = null;
    const learnt = new Float64Array(500);
    const sent = new Float64Array(500);
    for (let round = 0; round < 50; round++) {
      const delta = gaussian(500, 100 + round);
      delta.forEach((v, i) => (learnt[i]! += v));
      const out = compressWithFeedback(codec, delta, residual, rng);
      codec.decode(out.payload, 500).forEach((v, i) => (sent[i]! += v));
      residual = out.residual;
    }
    for (let i = 0; i < 500; i++) expect(sent[i]! + residual![i]!).toBeCloseTo(learnt[i]!, 5);
  });

  it('keeps no residual for codecs that need none', () => {
    expect(compressWithFeedback(int8, gaussian(10, 1), null).residual).toBeNull();
  });
});
