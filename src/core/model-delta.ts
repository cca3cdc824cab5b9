/**
 * A model download as a difference: a client that holds version `from` gets version `to` as
 * `weights(to) − weights(from)`, encoded with a lossy codec and deflated
 * (`GET /v1/tasks/{task}/models/{to}/delta-from/{from}`), instead of the whole model.
 *
 * | offset | size | field |
 * |---|---|---|
 * | 0 | 4 | magic `CVYD` |
 * | 4 | 1 | format version (1) |
 * | 5 | 1 | codec id of the payload (see `codecs/`; the coordinator sends int8) |
 * | 6 | 1 | compression of the payload: 0 none, 1 deflate (raw, RFC 1951) |
 * | 7 | 1 | reserved, 0 |
 * | 8 | 4 | `from` version, uint32 little-endian |
 * | 12 | 4 | `to` version, uint32 little-endian |
 * | 16 | 4 | parameter count n, uint32 little-endian |
 * | 20 | 4 | the payload's length once inflated, uint32 little-endian |
 * | 24 | … | the codec's payload for n values, compressed as byte 6 says |
 *
 * Applying one adds the codec's error to the client's copy: a client follows at most
 * {@link MAX_DELTA_HOPS} deltas in a row before it downloads the whole model again, so that error cannot
 * pile up. The deflate step is left to the caller (zlib in Node, DecompressionStream in a browser).
 */
import { CodecError, viewOf } from './codec.ts';

export const DELTA_MAGIC = 0x44595643; // 'CVYD' read as little-endian uint32
const DELTA_VERSION = 1;
const HEADER_BYTES = 24;
/** Deltas applied in a row before a client takes the whole model again. */
export const MAX_DELTA_HOPS = 8;
/** The coordinator serves deltas from versions at most this far behind; an older copy downloads the whole model. */
export const DELTA_WINDOW = 16;

/** Whether a client holding `held` should ask for a delta to `version` rather than the whole model. */
export const shouldAskForDelta = (held: { version: number; hops: number }, version: number): boolean =>
  version > held.version && version - held.version <= DELTA_WINDOW && held.hops < MAX_DELTA_HOPS;

export type DeltaCompression = 'none' | 'deflate';
const COMPRESSIONS: readonly DeltaCompression[] = ['none', 'deflate'];

export interface ModelDeltaHeader {
  codecId: number;
  compression: DeltaCompression;
  from: number;
  to: number;
  parameterCount: number;
  /** The payload's length once inflated: a bound for the inflater, checked after. */
  payloadBytes: number;
}

export function encodeModelDelta(h: ModelDeltaHeader, body: Uint8Array): Uint8Array<ArrayBuffer> {
  const frame = new Uint8Array(HEADER_BYTES + body.byteLength);
  const view = viewOf(frame);
  view.setUint32(0, DELTA_MAGIC, true);
  view.setUint8(4, DELTA_VERSION);
  view.setUint8(5, h.codecId);
  view.setUint8(6, COMPRESSIONS.indexOf(h.compression));
  view.setUint32(8, h.from, true);
  view.setUint32(12, h.to, true);
  view.setUint32(16, h.parameterCount, true);
  view.setUint32(20, h.payloadBytes, true);
  frame.set(body, HEADER_BYTES);
  return frame;
}

/** Reads a delta's header and checks it is the one asked for; `body` is still compressed as the header says. */
export function decodeModelDelta(frame: Uint8Array, expected: { from: number; to: number; parameterCount: number }): { header: ModelDeltaHeader; body: Uint8Array } {
  if (frame.byteLength < HEADER_BYTES) throw new CodecError(`model delta of ${frame.byteLength} bytes is shorter than its header`);
  const view = viewOf(frame);
  if (view.getUint32(0, true) !== DELTA_MAGIC) throw new CodecError('model delta does not start with the CVYD magic');
  if (view.getUint8(4) !== DELTA_VERSION) throw new CodecError(`model delta format version ${view.getUint8(4)} is not supported`);
  const compression = COMPRESSIONS[view.getUint8(6)];
  if (!compression) throw new CodecError(`unknown model delta compression ${view.getUint8(6)}`);
  if (view.getUint8(7) !== 0) throw new CodecError('reserved model delta byte 7 must be 0');
  const header: ModelDeltaHeader = {
    codecId: view.getUint8(5),
    compression,
    from: view.getUint32(8, true),
    to: view.getUint32(12, true),
    parameterCount: view.getUint32(16, true),
    payloadBytes: view.getUint32(20, true),
  };
  for (const key of ['from', 'to', 'parameterCount'] as const) {
    if (header[key] !== expected[key]) throw new CodecError(`model delta is for ${key} ${header[key]}, expected ${expected[key]}`);
  }
  return { header, body: frame.subarray(HEADER_BYTES) };
}

/** `held + delta`, refusing a result that is not finite (a corrupt delta must not become the model trained on). */
export function applyModelDelta(held: Float32Array, delta: Float32Array): Float32Array {
  if (held.length !== delta.length) throw new CodecError(`model delta has ${delta.length} values, the model ${held.length}`);
  const out = new Float32Array(held.length);
  for (let i = 0; i < held.length; i++) {
    const v = held[i]! + delta[i]!;
    if (!Number.isFinite(v)) throw new CodecError(`parameter ${i} is ${v} after the delta`);
    out[i] = v;
  }
  return out;
}
