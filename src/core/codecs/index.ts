import type { Codec } from '../codec.ts';
import { f32 } from './f32.ts';

const all: readonly Codec[] = [f32];

/** Codecs by name, as a task's configuration names them. */
export const codecsByName: ReadonlyMap<string, Codec> = new Map(all.map((c) => [c.name, c]));
/** Codecs by wire id, as an update frame names them. */
export const codecsById: ReadonlyMap<number, Codec> = new Map(all.map((c) => [c.id, c]));
