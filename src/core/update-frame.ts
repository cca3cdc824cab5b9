/**
 * The binary body of an upload (`PUT …/updates/{updateId}`):
 *
 * | offset | size | field |
 * |---|---|---|
 * | 0 | 4 | magic `CVYU` |
 * | 4 | 1 | frame format version (1) |
 * | 5 | 1 | codec id (see `codecs/`) |
 * | 6 | 2 | reserved, 0 |
 * | 8 | 4 | metadata length M, uint32 little-endian |
 * | 12 | M | metadata, UTF-8 JSON ({@link UpdateMeta}) |
 * | 12+M | … | codec payload, starting at the next multiple of 4 |
 *
 * The weights never travel as JSON; the small metadata does, so that it stays readable and extensible.
 */
import { CodecError, type Codec } from './codec.ts';
import { CODEC_IDS } from './codecs/index.ts';

export const FRAME_MAGIC = 0x55595643; // 'CVYU' read as little-endian uint32
export const FRAME_VERSION = 1;
const HEADER_BYTES = 12;
export const MAX_META_BYTES = 4096;

/** What a client says about its update. Only aggregate numbers: never an example. */
export interface UpdateMeta {
  clientId: string;
  /** The global model version the delta was trained from. */
  baseVersion: number;
  /** Examples the client trained on this round (the FedAvg weight; 1 when absent). A private task's clients leave it out. */
  numExamples?: number;
  /** Mean training loss of the client's last local epoch. A private task's clients leave it out. */
  loss?: number;
  /** Training accuracy of the last local epoch, 0–1, when the task has one. */
  accuracy?: number;
  /** Which TF.js backend trained it (`webgpu`, `webgl`, `cpu`, …): aggregate telemetry. */
  backend?: string;
  /** Local training time in milliseconds. */
  trainMs?: number;
  /** The lineage of the model it was trained from (TaskSummary.lineage); refused when it is not the coordinator's. */
  lineage?: string;
  /**
   * Federated evaluation: how the model it received (`baseVersion`) did on the client's own held-out
   * examples, before it trained. Only aggregate numbers; absent when the client holds none apart.
   */
  eval?: {
    accuracy: number;
    loss: number;
    count: number;
    /** With personalization: the client's own fine-tuned copy on the same examples. */
    personalAccuracy?: number;
  };
  /** Adaptive clipping (private tasks): whether the update's norm was within the round's clip norm before clipping. */
  withinClip?: boolean;
}

export interface DecodedFrame {
  /** The codec family's wire id: the receiver decodes the payload with its own codec of that id (it knows ρ). */
  codecId: number;
  meta: unknown;
  payload: Uint8Array;
}

/** A frame of `delta` encoded with `codec` (no error feedback: see error-feedback.ts for the client's way). */
export function encodeUpdateFrame(codec: Codec, meta: UpdateMeta, delta: Float32Array, random?: () => number): Uint8Array<ArrayBuffer> {
  return frameWithPayload(codec, meta, codec.encode(delta, random));
}

/** A frame around a payload `codec` already made. */
export function frameWithPayload(codec: Codec, meta: UpdateMeta, payload: Uint8Array): Uint8Array<ArrayBuffer> {
  const metaBytes = new TextEncoder().encode(JSON.stringify(meta));
  if (metaBytes.byteLength > MAX_META_BYTES) throw new RangeError('update metadata is too large');
  const payloadOffset = align4(HEADER_BYTES + metaBytes.byteLength);
  const frame = new Uint8Array(payloadOffset + payload.byteLength);
  const view = new DataView(frame.buffer);
  view.setUint32(0, FRAME_MAGIC, true);
  view.setUint8(4, FRAME_VERSION);
  view.setUint8(5, codec.id);
  view.setUint32(8, metaBytes.byteLength, true);
  frame.set(metaBytes, HEADER_BYTES);
  frame.set(payload, payloadOffset);
  return frame;
}

/** The largest frame a payload of `payloadBytes` makes: header, the largest metadata, alignment. */
export const maxFrameBytes = (payloadBytes: number): number => HEADER_BYTES + MAX_META_BYTES + 3 + payloadBytes;

/**
 * Splits a frame into codec id, metadata (still `unknown`: the caller validates it) and payload (a view, not a
 * copy). Throws a CodecError naming what is wrong.
 */
export function decodeUpdateFrame(frame: Uint8Array): DecodedFrame {
  if (frame.byteLength < HEADER_BYTES) throw new CodecError(`frame is ${frame.byteLength} bytes, shorter than its header`);
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (view.getUint32(0, true) !== FRAME_MAGIC) throw new CodecError('frame does not start with the CVYU magic');
  const version = view.getUint8(4);
  if (version !== FRAME_VERSION) throw new CodecError(`frame format version ${version} is not supported`);
  // Reserved bytes must be zero, so that a later format can give them a meaning.
  if (view.getUint16(6, true) !== 0) throw new CodecError('reserved header bytes 6–7 must be 0');
  const codecId = view.getUint8(5);
  if (!CODEC_IDS.has(codecId)) throw new CodecError(`unknown codec id ${codecId}`);
  const metaLength = view.getUint32(8, true);
  if (metaLength > MAX_META_BYTES) throw new CodecError(`metadata of ${metaLength} bytes exceeds ${MAX_META_BYTES}`);
  const payloadOffset = align4(HEADER_BYTES + metaLength);
  if (payloadOffset > frame.byteLength) throw new CodecError('frame is truncated inside its metadata');
  let meta: unknown;
  try {
    meta = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(frame.subarray(HEADER_BYTES, HEADER_BYTES + metaLength)));
  } catch {
    throw new CodecError('metadata is not valid UTF-8 JSON');
  }
  return { codecId, meta, payload: frame.subarray(payloadOffset) };
}

const align4 = (n: number): number => (n + 3) & ~3;
