import { describe, expect, it } from 'vitest';
import { CodecError } from './codec.ts';
import { f32 } from './codecs/f32.ts';
import { decodeUpdateFrame, encodeUpdateFrame, type UpdateMeta } from './update-frame.ts';

const meta: UpdateMeta = { clientId: 'client-0001', baseVersion: 3, numExamples: 42, loss: 0.25, backend: 'webgl' };

describe('update frame', () => {
  it('round-trips metadata and a delta bit for bit', () => {
    const delta = Float32Array.of(0, -0, 1.5, -3.25e-7, 3.4028234663852886e38, 1e-45);
    const frame = encodeUpdateFrame(f32, meta, delta);
    const decoded = decodeUpdateFrame(frame);
    expect(decoded.codecId).toBe(f32.id);
    expect(decoded.meta).toEqual(meta);
    const back = f32.decode(decoded.payload, delta.length);
    expect(new Uint8Array(back.buffer)).toEqual(new Uint8Array(delta.buffer));
  });

  it('keeps the payload 4-byte aligned and 4 bytes per parameter', () => {
    const frame = encodeUpdateFrame(f32, meta, new Float32Array(1000));
    const { payload } = decodeUpdateFrame(frame);
    expect(payload.byteOffset % 4).toBe(0);
    expect(payload.byteLength).toBe(4000);
  });

  it.each([
    ['a short buffer', new Uint8Array(5), /shorter than its header/],
    ['a wrong magic', new Uint8Array(64), /magic/],
  ])('refuses %s', (_name, bytes, message) => {
    expect(() => decodeUpdateFrame(bytes)).toThrow(message);
  });

  it('refuses an unknown codec, a future version, truncated metadata and bad JSON', () => {
    const good = encodeUpdateFrame(f32, meta, new Float32Array(4));
    const withByte = (offset: number, value: number) => {
      const copy = good.slice();
      copy[offset] = value;
      return copy;
    };
    expect(() => decodeUpdateFrame(withByte(5, 99))).toThrow(/unknown codec id 99/);
    expect(() => decodeUpdateFrame(withByte(4, 2))).toThrow(/version 2/);
    expect(() => decodeUpdateFrame(withByte(7, 1))).toThrow(/reserved/);
    expect(() => decodeUpdateFrame(good.subarray(0, 20))).toThrow(/truncated/);
    expect(() => decodeUpdateFrame(withByte(12, 0x7b + 1))).toThrow(CodecError);
  });

  it('f32 refuses a payload of the wrong length', () => {
    expect(() => f32.decode(new Uint8Array(12), 4)).toThrow(/12 bytes, expected 16/);
  });
});
