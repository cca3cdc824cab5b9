/**
 * What a refused update gives back to the error-feedback residual (CoveyStore.rejectOutbox): its payload,
 * decoded, added to the residual, when both belong to the same lineage and codec and the codec keeps a
 * residual at all. Its own module, loaded only when such an update is refused, so that the codecs stay out
 * of what a page that embeds Covey downloads first.
 */
import { CodecError } from '../core/codec.ts';
import { codecFor } from '../core/codecs/index.ts';
import { decodeUpdateFrame } from '../core/update-frame.ts';

/** The residual as the store keeps it (store.ts's Residual), by shape: this module stays below the store. */
interface Kept {
  lineage: string;
  codec: string;
  values: Float32Array;
}

export function carriedBy<R extends Kept>(item: { codec?: string; frame: ArrayBuffer }, residual: R): R | undefined {
  const codec = item.codec === undefined ? undefined : codecFor(item.codec);
  if (!codec?.needsErrorFeedback || residual.codec !== item.codec) return undefined;
  try {
    const frame = decodeUpdateFrame(new Uint8Array(item.frame));
    if ((frame.meta as { lineage?: unknown }).lineage !== residual.lineage) return undefined;
    const sent = codec.decode(frame.payload, residual.values.length);
    return { ...residual, values: residual.values.map((v, i) => v + sent[i]!) };
  } catch (e) {
    if (e instanceof CodecError) return undefined;
    throw e;
  }
}
