/**
 * Model downloads as differences (core/model-delta.ts): version `to` minus version `from`, int8 with
 * stochastic rounding (unbiased), deflated. The bytes for a pair of versions are always the same (the
 * rounding is seeded from the pair), so a delta is as cacheable as a model version. Each task keeps the
 * deltas to its current version (at most DELTA_WINDOW, since the server asks for no others) and those to the
 * one before; a delta is made once however many clients ask at the same time, and deflated off the event
 * loop (zlib's thread pool), so a burst of requests never blocks the coordinator.
 */
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { deflateRaw } from 'node:zlib';
import { int8 } from '../core/codecs/int8.ts';
import { DELTA_WINDOW, encodeModelDelta } from '../core/model-delta.ts';
import { createRng } from '../core/rng.ts';
import type { CoordinatorStore } from './store.ts';

const deflate = promisify(deflateRaw);

export class ModelDeltas {
  /** Per task: frames (or the promise of one being made) by `lineage/from/to`, oldest first. */
  private readonly byTask = new Map<string, Map<string, Promise<Uint8Array<ArrayBuffer> | null>>>();

  constructor(private readonly store: Pick<CoordinatorStore, 'modelVector'>) {}

  /** The delta frame from `from` to `to` of the task's lineage, or null when the whole model is the answer. */
  frame(taskId: string, lineage: string, from: number, to: number): Promise<Uint8Array<ArrayBuffer> | null> {
    if (from >= to || to - from > DELTA_WINDOW) return Promise.resolve(null);
    let cache = this.byTask.get(taskId);
    if (!cache) this.byTask.set(taskId, (cache = new Map()));
    const key = `${lineage}\n${from}\n${to}`;
    const known = cache.get(key);
    if (known) return known;
    const made = this.make(taskId, from, to);
    cache.set(key, made);
    made.catch(() => cache.delete(key));
    if (cache.size > 2 * DELTA_WINDOW) cache.delete(cache.keys().next().value!);
    return made;
  }

  private async make(taskId: string, from: number, to: number): Promise<Uint8Array<ArrayBuffer> | null> {
    const older = this.store.modelVector(taskId, from);
    const newer = this.store.modelVector(taskId, to);
    if (!older || !newer || older.length !== newer.length) return null;
    const difference = new Float32Array(newer.length);
    for (let i = 0; i < newer.length; i++) difference[i] = newer[i]! - older[i]!;
    // Seeded by the task and the pair, not the lineage (random): a simulation's same seed gives the same bytes.
    const payload = int8.encode(difference, createRng(createHash('sha256').update(`${taskId}\n${from}\n${to}`).digest().readUInt32LE(0)));
    const body = await deflate(payload, { level: 9 });
    return encodeModelDelta({ codecId: int8.id, compression: 'deflate', from, to, parameterCount: newer.length, payloadBytes: payload.byteLength }, body);
  }
}
