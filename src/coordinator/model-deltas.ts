/**
 * Model downloads as differences (core/model-delta.ts): version `to` minus version `from`, int8 with
 * stochastic rounding (unbiased), deflated. The bytes for a pair of versions are always the same (the
 * rounding is seeded from the pair), so a delta is as cacheable as a model version; the last few made are
 * kept in memory, since a round's clients mostly ask for the same one.
 */
import { createHash } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { int8 } from '../core/codecs/int8.ts';
import { DELTA_WINDOW, encodeModelDelta } from '../core/model-delta.ts';
import { createRng } from '../core/rng.ts';
import type { CoordinatorStore } from './store.ts';

/** Two versions' worth of pairs (the server asks only for pairs that lead to the current version). */
const CACHED = 2 * DELTA_WINDOW;

export class ModelDeltas {
  private readonly cache = new Map<string, Uint8Array<ArrayBuffer>>();

  constructor(private readonly store: Pick<CoordinatorStore, 'modelVector'>) {}

  /** The delta frame from `from` to `to` of the task's current lineage, or null when the whole model is the answer. */
  frame(taskId: string, lineage: string, from: number, to: number): Uint8Array<ArrayBuffer> | null {
    if (from >= to || to - from > DELTA_WINDOW) return null;
    const key = `${taskId}\n${lineage}\n${from}\n${to}`;
    const cached = this.cache.get(key);
    if (cached) {
      this.cache.delete(key);
      this.cache.set(key, cached);
      return cached;
    }
    const older = this.store.modelVector(taskId, from);
    const newer = this.store.modelVector(taskId, to);
    if (!older || !newer || older.length !== newer.length) return null;
    const difference = new Float32Array(newer.length);
    for (let i = 0; i < newer.length; i++) difference[i] = newer[i]! - older[i]!;
    // Seeded by the task and the pair, not the lineage (random): a simulation's same seed gives the same bytes.
    const payload = int8.encode(difference, createRng(createHash('sha256').update(`${taskId}\n${from}\n${to}`).digest().readUInt32LE(0)));
    const frame = encodeModelDelta(
      { codecId: int8.id, compression: 'deflate', from, to, parameterCount: newer.length, payloadBytes: payload.byteLength },
      deflateRawSync(payload, { level: 9 }),
    );
    this.cache.set(key, frame);
    if (this.cache.size > CACHED) this.cache.delete(this.cache.keys().next().value!);
    return frame;
  }
}
