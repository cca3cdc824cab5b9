/**
 * Branded identifiers and vectors: look-alike values (a client id and an update id are both strings, a model
 * and a delta are both Float32Arrays) that must never be mixed up. The brands exist only at compile time.
 */
declare const brand: unique symbol;
type Brand<T, Name extends string> = T & { readonly [brand]: Name };

export type TaskId = Brand<string, 'TaskId'>;
export type ClientId = Brand<string, 'ClientId'>;
export type UpdateId = Brand<string, 'UpdateId'>;
export type RoundId = Brand<number, 'RoundId'>;
export type ModelVersion = Brand<number, 'ModelVersion'>;

/** A model's parameters, flattened in the order of its weight manifest. */
export type Weights = Brand<Float32Array, 'Weights'>;
/** Local weights minus the global weights they were trained from; same layout as {@link Weights}. */
export type WeightDelta = Brand<Float32Array, 'WeightDelta'>;

export const asTaskId = (s: string): TaskId => s as TaskId;
export const asClientId = (s: string): ClientId => s as ClientId;
export const asUpdateId = (s: string): UpdateId => s as UpdateId;
export const asRoundId = (n: number): RoundId => n as RoundId;
export const asModelVersion = (n: number): ModelVersion => n as ModelVersion;
export const asWeights = (v: Float32Array): Weights => v as Weights;
export const asWeightDelta = (v: Float32Array): WeightDelta => v as WeightDelta;

/** Ids that clients make themselves: URL-safe, 8–64 characters. */
export const isWellFormedId = (s: string): boolean => /^[A-Za-z0-9_-]{8,64}$/.test(s);
