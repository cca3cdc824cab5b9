/**
 * Error feedback (Seide et al. 2014; Stich et al. 2018): a client whose codec drops part of its update keeps
 * that part (the residual) and adds it to its next update, so nothing it learnt is lost, only delayed. The
 * residual is the client's to keep (IndexedDB in the browser, memory in the simulator); this is the math.
 */
import type { Codec } from './codec.ts';

export interface Compressed {
  payload: Uint8Array<ArrayBuffer>;
  /** What the payload does not carry, to add to the next update; null for codecs that need no feedback. */
  residual: Float32Array | null;
}

/**
 * Encodes `delta + residual` with `codec` and returns what it left out: exactly (delta + residual) − decode(payload).
 * A residual of another length (another model) is ignored.
 */
export function compressWithFeedback(codec: Codec, delta: Float32Array, residual: Float32Array | null, random?: () => number): Compressed {
  if (!codec.needsErrorFeedback) return { payload: codec.encode(delta, random), residual: null };
  const corrected = delta.slice();
  if (residual && residual.length === delta.length) for (let i = 0; i < corrected.length; i++) corrected[i]! += residual[i]!;
  const payload = codec.encode(corrected, random);
  const sent = codec.decode(payload, corrected.length);
  for (let i = 0; i < corrected.length; i++) corrected[i]! -= sent[i]!;
  return { payload, residual: corrected };
}
