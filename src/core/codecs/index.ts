/**
 * The codecs a task can name (`training.codec`), in one table: a fixed codec by its name, a parametrised one
 * as `family:ρ`. Adding a codec is a file and a row here.
 */
import type { Codec } from '../codec.ts';
import { f16 } from './f16.ts';
import { f32 } from './f32.ts';
import { int8 } from './int8.ts';
import { topk } from './topk.ts';
import { topkInt8 } from './topk-int8.ts';

const fixed: readonly Codec[] = [f32, f16, int8];

/** Families with a density ρ, 0 < ρ ≤ 0.5 (past a half, f32 would be smaller). */
const withDensity: readonly { family: string; id: number; make: (rho: number) => Codec }[] = [
  { family: 'topk', id: 3, make: topk },
  { family: 'topk-int8', id: 4, make: topkInt8 },
];

/** Every wire id a frame may carry. */
export const CODEC_IDS: ReadonlySet<number> = new Set([...fixed.map((c) => c.id), ...withDensity.map((f) => f.id)]);

/** For messages: what a task may name. */
export const CODEC_NAMES = `${fixed.map((c) => c.name).join(', ')}, ${withDensity.map((f) => `${f.family}:ρ`).join(', ')} (0 < ρ ≤ 0.5)`;

const made = new Map<string, Codec>(fixed.map((c) => [c.name, c]));

/** The codec a task's `training.codec` names, or undefined when it names none. */
export function codecFor(name: string): Codec | undefined {
  const known = made.get(name);
  if (known) return known;
  const match = /^([a-z0-9-]+):((?:0|[1-9]\d*)?\.?\d+(?:e-\d+)?)$/.exec(name);
  const family = match && withDensity.find((f) => f.family === match[1]);
  if (!family) return undefined;
  const rho = Number(match![2]);
  if (!(rho > 0 && rho <= 0.5)) return undefined;
  const codec = family.make(rho);
  made.set(name, codec);
  return codec;
}
