/**
 * Shared by the experiment scripts (paper.ts, heterogeneity.ts): the FedAvg paper's 2NN on the digits task
 * with a run's training configuration, and one simulated run of it to a target, written to its folder.
 */
import { inputShape } from '../core/features.ts';
import { parsePartitionSpec } from '../core/partition.ts';
import type { TrainingConfig } from '../core/protocol.ts';
import type { ServerOptimizerConfig } from '../core/server-optimizer.ts';
import type { TaskDefinition } from '../coordinator/task.ts';
import { buildModel } from '../model/models.ts';
import { loadSimData } from './datasets.ts';
import { writeRun } from './report.ts';
import { simulate, type RoundRecord } from './simulation.ts';

export interface RunSpec {
  label: string;
  partition: string;
  training: Partial<TrainingConfig>;
  serverOptimizer?: ServerOptimizerConfig;
  clients: number;
  perRound: number;
  maxRounds: number;
  holdout: number;
  seed: number;
  target?: number;
}

export interface RunResult {
  spec: RunSpec;
  records: RoundRecord[];
  /** The first round whose model reached the target; null when none did. */
  roundsToTarget: number | null;
  wallS: number;
}

/** The 2NN (two hidden layers of 200, ReLU: 199,210 parameters) on `base`'s input, trained as `training` says. */
export function mlp2nnTask(base: TaskDefinition, spec: RunSpec): TaskDefinition {
  const shape = inputShape(base.input);
  return {
    ...base,
    buildModel: (seed) => buildModel({ builtin: 'mlp', hidden: [200, 200] }, shape, base.labels.length, seed),
    // Personalization only where the run asks for it (an extra epoch per client), whatever the task file says.
    training: { ...base.training, personalization: undefined, optimizer: 'sgd', ...spec.training },
    strategy: 'fedavg',
    ...(spec.serverOptimizer ? { serverOptimizer: spec.serverOptimizer } : {}),
    rounds: { minClients: 1, targetClients: spec.perRound, deadlineMs: 365 * 24 * 3600_000 },
    maxExamplesPerClient: Number.MAX_SAFE_INTEGER,
  };
}

export async function runSpec(base: TaskDefinition, spec: RunSpec, outDir: string, log: (line: string) => void): Promise<RunResult> {
  const task = mlp2nnTask(base, spec);
  const data = loadSimData(task, { clients: spec.clients, partition: parsePartitionSpec(spec.partition), holdout: spec.holdout, seed: spec.seed });
  const started = performance.now();
  const records = await simulate(
    { task, clients: data.clients, test: data.test, inputShape: inputShape(task.input), perRound: spec.perRound, rounds: spec.maxRounds, seed: spec.seed, ...(spec.target === undefined ? {} : { targetAccuracy: spec.target }) },
    (r) => {
      if (r.round % 25 === 0) log(`  ${spec.label}: round ${r.round}, ${(r.accuracy * 100).toFixed(1)} %`);
    },
  );
  const roundsToTarget = spec.target === undefined ? null : (records.find((r) => r.accuracy >= spec.target!)?.round ?? null);
  const wallS = (performance.now() - started) / 1000;
  writeRun(outDir, records, { ...spec, roundsToTarget, wallS });
  return { spec, records, roundsToTarget, wallS };
}
