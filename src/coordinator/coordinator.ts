/**
 * Assembles a coordinator: the store, each task's federation and evaluator, and the HTTP server. Used by
 * `main.ts` (npm start) and by tests, which start it on a free port with a fresh SQLite file.
 */
import * as tf from '@tensorflow/tfjs';
import type { FastifyInstance } from 'fastify';
import { describeModel, readWeights } from '../model/tf-model.ts';
import type { AdmissionLimits } from './admission.ts';
import { randomBytes } from 'node:crypto';
import { Evaluator } from './evaluator.ts';
import type { HostPolicy } from './host-check.ts';
import { TokenIssuer } from './tokens.ts';
import { Federation } from './federation.ts';
import { Metrics } from './metrics.ts';
import { buildServer, type ServedTask } from './server.ts';
import { CoordinatorStore } from './store.ts';
import type { TaskDefinition } from './task.ts';

export interface CoordinatorOptions {
  dbPath: string;
  tasks: TaskDefinition[];
  appDir?: string;
  datasetsDir?: string;
  sdkDir?: string;
  logger?: boolean | object;
  limits?: AdmissionLimits;
  /** Signs client tokens; a random one (tokens valid for this process only) when absent. */
  tokenSecret?: Buffer;
  /** Seed of the initial model weights, used only when a task has no stored model yet. */
  seed?: number;
  /** Trust a reverse proxy's X-Forwarded-* headers (see ServerOptions.trustProxy). */
  trustProxy?: boolean | string;
  /** Enrol only clients that sign a challenge with a key (see ServerOptions.requireClientKeys). */
  requireClientKeys?: boolean;
  /** The Host names it answers to (see ServerOptions.hosts). */
  hosts?: HostPolicy;
}

export interface Coordinator {
  server: FastifyInstance;
  store: CoordinatorStore;
  tasks: ReadonlyMap<string, ServedTask>;
  /** Resolves once every stored model version has been evaluated. */
  evaluated(): Promise<void>;
  close(): Promise<void>;
}

export async function createCoordinator(opts: CoordinatorOptions): Promise<Coordinator> {
  // Production mode: skips TF.js debug checks and its advice to install tfjs-node (which cannot install here).
  tf.env().set('PROD', true);
  const store = new CoordinatorStore(opts.dbPath);
  const tasks = new Map<string, ServedTask>();
  const evaluators = new Map<string, Evaluator>();
  const log = (msg: string) => server.log.info(msg);
  const evaluatorLog = { info: log, warn: (msg: string) => server.log.warn(msg) };
  const metrics = new Metrics();

  for (const task of opts.tasks) {
    const model = await task.buildModel(opts.seed ?? 1);
    const spec = await describeModel(model);
    const evaluator = await Evaluator.create(task, store, evaluatorLog);
    const federation = new Federation(task, await readWeights(model), store, {
      onRoundClosed: (taskId, roundId, version, why) => {
        metrics.inc('covey_rounds_closed_total', { task: taskId, outcome: version === null ? 'failed' : 'aggregated' });
        if (version === null) server.log.warn(`task ${taskId} round ${roundId} failed: ${why ?? 'no new model'}`);
        else log(`task ${taskId} round ${roundId} closed: model v${version}`);
        void evaluator.evaluatePending();
      },
      onUpdateAccepted: (taskId, update) => metrics.observe('covey_update_norm', { task: taskId }, update.norm),
    });
    model.dispose();
    tasks.set(task.id, { federation, spec });
    evaluators.set(task.id, evaluator);
  }

  const tokens = new TokenIssuer(opts.tokenSecret ?? randomBytes(32));
  const server = await buildServer({ store, tasks, metrics, tokens, limits: opts.limits, appDir: opts.appDir, datasetsDir: opts.datasetsDir, sdkDir: opts.sdkDir, logger: opts.logger, trustProxy: opts.trustProxy, requireClientKeys: opts.requireClientKeys, hosts: opts.hosts });
  for (const { federation } of tasks.values()) federation.start();
  const evaluated = () => Promise.all([...evaluators.values()].map((e) => e.evaluatePending())).then(() => undefined);
  void evaluated();

  return {
    server,
    store,
    tasks,
    evaluated,
    async close() {
      for (const { federation } of tasks.values()) federation.stop();
      await server.close();
      await Promise.all([...evaluators.values()].map((e) => e.evaluatePending()));
      store.close();
    },
  };
}
