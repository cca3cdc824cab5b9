import type { Strategy } from '../strategy.ts';
import { fedAvg } from './fedavg.ts';

/** Every strategy a task may name. A new strategy is a new file and one line here. */
export const strategies: Readonly<Record<string, Strategy>> = {
  [fedAvg.name]: fedAvg,
};

export function getStrategy(name: string): Strategy {
  const strategy = strategies[name];
  if (!strategy) throw new Error(`unknown aggregation strategy "${name}"`);
  return strategy;
}
