/**
 * What a client does to its update on a private task, before the update leaves the device: clip it to the
 * round's L2 norm S; with local DP, add N(0, (z·S)²) to every coordinate itself; with adaptive clipping,
 * note whether it was within S (the one bit the coordinator's quantile estimate needs). The browser
 * (client/federation-client.ts) and the simulator run this same function.
 */
import type { TrainingConfig } from '../protocol.ts';
import { clipToNorm } from './clip.ts';
import { addGaussianNoise } from './noise.ts';

export interface PrivatizedUpdate {
  delta: Float32Array;
  /** With adaptive clipping: whether the update's norm was at most S before clipping. */
  withinClip?: boolean;
}

/** Whether the round's configuration makes it a private task (clients clip, and send only what it needs). */
export const isPrivateConfig = (config: Pick<TrainingConfig, 'clipNorm'>): boolean => config.clipNorm !== undefined;

export function privatizeUpdate(delta: Float32Array, config: Pick<TrainingConfig, 'clipNorm' | 'localNoise' | 'reportClip'>, uniforms?: { draw(): number }): PrivatizedUpdate {
  if (config.clipNorm === undefined) return { delta };
  const clipped = clipToNorm(delta, config.clipNorm);
  const values = config.localNoise ? addGaussianNoise(clipped.values, config.localNoise * config.clipNorm, uniforms) : clipped.values;
  return { delta: values, ...(config.reportClip ? { withinClip: clipped.norm <= config.clipNorm } : {}) };
}
