/**
 * Gets the round's global model to train on, sending as few bytes as it can: nothing when this browser holds
 * that version already, the difference from the version it holds when the coordinator has it (int8,
 * deflated: core/model-delta.ts), the whole model otherwise. The model is kept in IndexedDB, so training
 * offline needs nothing from the network, and so is its topology (model.json), once per lineage.
 */
import { CodecError } from '../core/codec.ts';
import { int8 } from '../core/codecs/int8.ts';
import { applyModelDelta, decodeModelDelta, shouldAskForDelta } from '../core/model-delta.ts';
import { modelPaths } from '../core/protocol.ts';
import { ApiRequestError, type CoordinatorApi } from './coordinator-api.ts';
import type { CoveyStore } from './store.ts';
import type { ModelVia } from './traffic.ts';

/** A global model version as this browser holds it. */
export interface HeldModel {
  lineage: string;
  version: number;
  /** Deltas applied since the last whole download: each adds its rounding (see MAX_DELTA_HOPS). */
  hops: number;
  /** model.json's `modelTopology` and its weight specs, as the coordinator sent them. */
  topology: object;
  weightSpecs: object[];
  weights: Float32Array;
}

export interface ModelDownload {
  model: HeldModel;
  /** Body bytes received for it (0 when held). */
  bytes: number;
  via: ModelVia;
}

export type ModelSource = Pick<CoordinatorApi, 'json' | 'binary'>;
export type ModelKeeper = Pick<CoveyStore, 'setting' | 'putSetting'>;

const heldKey = (taskId: string) => `model:${taskId}`;

function isHeldModel(v: unknown): v is HeldModel {
  if (typeof v !== 'object' || v === null) return false;
  const m = v as Partial<HeldModel>;
  return typeof m.lineage === 'string' && Number.isInteger(m.version) && Number.isInteger(m.hops) && typeof m.topology === 'object' && Array.isArray(m.weightSpecs) && m.weights instanceof Float32Array;
}

/** The model this browser holds for the task, if it is `version` of the task's lineage. */
export async function heldModel(keeper: ModelKeeper, task: { id: string; lineage: string; parameterCount: number }, version: number): Promise<HeldModel | undefined> {
  const held = await keeper.setting(heldKey(task.id), isHeldModel);
  return held?.lineage === task.lineage && held.version === version && held.weights.length === task.parameterCount ? held : undefined;
}

/** The model a task's round trains, `version` of `lineage`, kept for next time. */
export async function downloadModel(api: ModelSource, keeper: ModelKeeper, task: { id: string; lineage: string; parameterCount: number }, version: number, signal?: AbortSignal): Promise<ModelDownload> {
  const held = await keeper.setting(heldKey(task.id), isHeldModel);
  const same = held?.lineage === task.lineage && held.weights.length === task.parameterCount ? held : undefined;
  if (same?.version === version) return { model: same, bytes: 0, via: 'held' };
  const paths = modelPaths(task.id, version, task.lineage);
  let bytes = 0;
  let topology = same && { topology: same.topology, weightSpecs: same.weightSpecs };
  if (!topology) {
    const json = await api.json(paths.modelJson, signal);
    topology = readTopology(json);
    bytes += new TextEncoder().encode(JSON.stringify(json)).byteLength;
  }
  let model: HeldModel | undefined;
  if (same && canFollowDelta(same, version)) {
    const delta = await fetchDelta(api, paths.deltaFrom(same.version), same, version, signal);
    if (delta) {
      bytes += delta.bytes;
      model = { ...topology, lineage: task.lineage, version, hops: same.hops + 1, weights: applyModelDelta(same.weights, delta.values) };
    }
  }
  const via: ModelVia = model ? 'delta' : 'full';
  if (!model) {
    const weights = await api.binary(paths.weights, signal);
    if (weights.byteLength !== task.parameterCount * 4) throw new ApiRequestError(undefined, 'bad_response', `weights.bin has ${weights.byteLength} bytes for ${task.parameterCount} parameters`);
    bytes += weights.byteLength;
    model = { ...topology, lineage: task.lineage, version, hops: 0, weights: new Float32Array(weights.buffer) };
  }
  await keeper.putSetting(heldKey(task.id), model);
  return { model, bytes, via };
}

/** Whether to ask for a delta: a newer version within the coordinator's window, few hops since a whole one, a browser that can inflate. */
const canFollowDelta = (held: HeldModel, version: number): boolean => shouldAskForDelta(held, version) && typeof DecompressionStream === 'function';

/** The delta from the held version, decoded; undefined when the coordinator has none (the whole model is the answer). */
async function fetchDelta(api: ModelSource, path: string, held: HeldModel, version: number, signal?: AbortSignal): Promise<{ values: Float32Array; bytes: number } | undefined> {
  let frame: Uint8Array;
  try {
    frame = await api.binary(path, signal);
  } catch (e) {
    if (e instanceof ApiRequestError && e.status === 404) return undefined;
    throw e;
  }
  try {
    const { header, body } = decodeModelDelta(frame, { from: held.version, to: version, parameterCount: held.weights.length });
    if (header.codecId !== int8.id) throw new CodecError(`model delta in codec ${header.codecId}; this client reads int8`);
    // The inflated length bounds the buffer: never more than an int8 payload for this model can be.
    if (header.payloadBytes > int8.maxEncodedBytes(held.weights.length)) throw new CodecError(`model delta claims ${header.payloadBytes} bytes, more than int8 takes for ${held.weights.length} values`);
    const payload = header.compression === 'deflate' ? await inflate(body, header.payloadBytes) : body;
    return { values: int8.decode(payload, held.weights.length), bytes: frame.byteLength };
  } catch (e) {
    // A delta this client cannot read costs one whole download, never a round.
    if (e instanceof CodecError) return undefined;
    throw e;
  }
}

/** Raw deflate, refusing output past `limit` bytes (the header's length: nothing unbounded is inflated). */
async function inflate(bytes: Uint8Array, limit: number): Promise<Uint8Array> {
  let at = 0;
  try {
    const reader = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('deflate-raw')).getReader();
    const out = new Uint8Array(limit);
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      if (at + r.value.byteLength > limit) {
        void reader.cancel();
        throw new CodecError(`model delta inflates past the ${limit} bytes its header says`);
      }
      out.set(r.value, at);
      at += r.value.byteLength;
    }
    if (at !== limit) throw new CodecError(`model delta inflates to ${at} bytes, its header says ${limit}`);
    return out;
  } catch (e) {
    throw e instanceof CodecError ? e : new CodecError(`model delta does not inflate: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function readTopology(json: unknown): { topology: object; weightSpecs: object[] } {
  const m = (typeof json === 'object' && json !== null ? json : {}) as { modelTopology?: unknown; weightsManifest?: unknown };
  const groups = Array.isArray(m.weightsManifest) ? (m.weightsManifest as { weights?: unknown }[]) : [];
  const weightSpecs = groups.flatMap((g) => (Array.isArray(g.weights) ? (g.weights as unknown[]) : [])).filter((w): w is object => typeof w === 'object' && w !== null);
  if (typeof m.modelTopology !== 'object' || m.modelTopology === null || weightSpecs.length === 0) throw new ApiRequestError(undefined, 'bad_response', 'model.json has no topology or weights manifest');
  return { topology: m.modelTopology, weightSpecs };
}
