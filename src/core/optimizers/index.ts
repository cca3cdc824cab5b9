/** The server optimizers by name: one file each, registered here and nowhere else. */
import type { ServerOptimizer, ServerOptimizerConfig } from '../server-optimizer.ts';
import { fedAdagrad, fedAdam, fedYogi } from './adaptive.ts';
import { fedAvgM } from './fedavgm.ts';

export const serverOptimizers: Readonly<Record<string, (config: ServerOptimizerConfig) => ServerOptimizer>> = {
  fedavgm: fedAvgM,
  fedadam: fedAdam,
  fedyogi: fedYogi,
  fedadagrad: fedAdagrad,
};

export function getServerOptimizer(config: ServerOptimizerConfig): ServerOptimizer {
  const make = serverOptimizers[config.name];
  if (!make) throw new Error(`unknown server optimizer "${config.name}"; known: ${Object.keys(serverOptimizers).join(', ')}`);
  return make(config);
}
