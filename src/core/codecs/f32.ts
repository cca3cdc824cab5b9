import { CodecError, viewOf, type Codec } from '../codec.ts';

/** Lossless: little-endian IEEE float32, 4 bytes per parameter. The baseline the lossy codecs are measured against. */
export const f32: Codec = {
  id: 0,
  name: 'f32',
  needsErrorFeedback: false,
  maxEncodedBytes: (length) => length * 4,
  encode(delta) {
    const bytes = new Uint8Array(delta.length * 4);
    const view = viewOf(bytes);
    for (let i = 0; i < delta.length; i++) view.setFloat32(i * 4, delta[i]!, true);
    return bytes;
  },
  decode(payload, length) {
    if (payload.byteLength !== length * 4) {
      throw new CodecError(`f32 payload has ${payload.byteLength} bytes, expected ${length * 4} for ${length} values`);
    }
    const view = viewOf(payload);
    const out = new Float32Array(length);
    for (let i = 0; i < length; i++) out[i] = view.getFloat32(i * 4, true);
    return out;
  },
};
