import type { Strategy } from '../strategy.ts';
import { fedAvg } from './fedavg.ts';
import { krum, multiKrum } from './krum.ts';
import { median } from './median.ts';
import { trimmedMean } from './trimmed-mean.ts';

/** Every strategy a task may name. A new strategy is a new file and one line here. */
export const strategies: Readonly<Record<string, Strategy>> = Object.fromEntries(
  [fedAvg, median, trimmedMean, krum, multiKrum].map((s) => [s.name, s]),
);

export function getStrategy(name: string): Strategy {
  const strategy = strategies[name];
  if (!strategy) throw new Error(`unknown aggregation strategy "${name}"`);
  return strategy;
}
