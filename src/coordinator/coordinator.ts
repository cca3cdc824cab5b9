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
import { buildServer, type MetricsAccess, type ServedTask } from './server.ts';
import { ApiFailure } from './api-failure.ts';
import { OperatorView } from './operator-view.ts';
import { addTaskJson, checkTask, checkTaskPaths } from './task-registry.ts';
import { ValidationError } from '../core/validate.ts';
import type { OperatorTaskAdded } from '../core/operator.ts';
import type { CoordinatorStore } from './store.ts';
import { SqliteStore } from './sqlite-store.ts';
import type { TaskDefinition } from './task.ts';

export interface CoordinatorOptions {
  /** The embedded store's file (SQLite), when no `store` is given. */
  dbPath?: string;
  /** A store made by the caller (a PgStore for several processes); the coordinator closes it. */
  store?: CoordinatorStore;
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
  /** How often load shedding samples the process (see ServerOptions.pressureSampleMs). */
  pressureSampleMs?: number;
  /** The operator's token (operator-token.ts); a random one, valid for this process, when absent. */
  operatorToken?: string;
  /** Who may read /metrics (see OperatorOptions.metricsAccess); 'operator' when absent. */
  metricsAccess?: MetricsAccess;
  /**
   * Where tasks the operator adds while it runs are kept (`<data dir>/tasks`), the folder their relative
   * paths are read from, and what the environment adds to every task (as at start).
   */
  taskRegistry?: {
    dir: string;
    baseDir: string;
    /** The only folders whose files a task sent over the operator API may name (see checkTaskPaths). */
    roots: readonly string[];
    prepare: (task: TaskDefinition) => TaskDefinition;
  };
}

export interface Coordinator {
  server: FastifyInstance;
  store: CoordinatorStore;
  tasks: ReadonlyMap<string, ServedTask>;
  operatorToken: string;
  metrics: Metrics;
  /** Resolves once every stored model version has been evaluated. */
  evaluated(): Promise<void>;
  close(): Promise<void>;
}

export async function createCoordinator(opts: CoordinatorOptions): Promise<Coordinator> {
  // Production mode: skips TF.js debug checks and its advice to install tfjs-node (which cannot install here).
  tf.env().set('PROD', true);
  if (!opts.store && !opts.dbPath) throw new Error('createCoordinator needs a store or a dbPath');
  const store = opts.store ?? new SqliteStore(opts.dbPath!);
  const tasks = new Map<string, ServedTask>();
  const evaluators = new Map<string, Evaluator>();
  const log = (msg: string) => server.log.info(msg);
  const evaluatorLog = { info: log, warn: (msg: string) => server.log.warn(msg) };
  const metrics = new Metrics();
  const view = new OperatorView();

  /** Starts a task's federation and evaluator; a task of the same id already running is stopped and replaced (its stored versions go on). */
  const install = async (task: TaskDefinition, start: boolean): Promise<void> => {
    const model = await task.buildModel(opts.seed ?? 1);
    const spec = await describeModel(model);
    const initial = await readWeights(model);
    model.dispose();
    const running = tasks.get(task.id);
    // Same weights in the same order and shapes (layer names are made up per build): the stored versions fit it.
    const shapes = (specs: readonly { shape: number[]; dtype?: string }[]) => JSON.stringify(specs.map((w) => [w.shape, w.dtype ?? 'float32']));
    if (running && shapes(running.spec.weightSpecs) !== shapes(spec.weightSpecs)) {
      throw new ValidationError('model', `has other weights (${initial.length} parameters) than the running task "${task.id}" (${running.federation.parameterCount}): a task's architecture cannot change, give the new model a new task id`);
    }
    const evaluator = await Evaluator.create(task, store, evaluatorLog);
    let federation: Federation;
    try {
      federation = new Federation(task, initial, store, {
        onError: (taskId, e) => server.log.error(`task ${taskId}: the round's step failed, tried again at the next tick: ${e instanceof Error ? e.message : String(e)}`),
        onRoundClosed: (taskId, roundId, version, why) => {
          metrics.inc('covey_rounds_closed_total', { task: taskId, outcome: version === null ? 'failed' : 'aggregated' });
          if (version === null) server.log.warn(`task ${taskId} round ${roundId} failed: ${why ?? 'no new model'}`);
          else log(`task ${taskId} round ${roundId} closed: model v${version}`);
          void evaluator.evaluatePending();
        },
        onUpdateAccepted: (taskId, update) => metrics.observe('covey_update_norm', { task: taskId }, update.norm),
        onUpdateStored: (taskId, clientId, backend) => view.uploaded(taskId, clientId, backend),
      });
    } catch (e) {
      await evaluator.close();
      throw e;
    }
    running?.federation.stop();
    const previous = evaluators.get(task.id);
    tasks.set(task.id, { federation, spec });
    evaluators.set(task.id, evaluator);
    await previous?.close();
    if (start) {
      federation.start();
      void evaluator.evaluatePending();
    }
  };
  for (const task of opts.tasks) await install(task, false);

  /** Task files sent over the operator API are installed one at a time: two at once could both see the same running task. */
  let installing: Promise<unknown> = Promise.resolve();
  const addTask = (json: unknown): Promise<OperatorTaskAdded> => {
    const next = installing.then(() => addTaskNow(json));
    installing = next.catch(() => undefined);
    return next;
  };
  const addTaskNow = async (json: unknown): Promise<OperatorTaskAdded> => {
    const registry = opts.taskRegistry;
    if (!registry) throw new ApiFailure(501, 'no_task_registry', 'this coordinator was started without a task registry: tasks cannot be added while it runs');
    checkTaskPaths(json, registry.baseDir, registry.roots);
    const checked = registry.prepare(await checkTask(json, registry.baseDir));
    const existed = tasks.has(checked.id);
    await install(checked, true); // refuses an architecture change before anything is written
    await addTaskJson(json, registry.baseDir, registry.dir);
    server.log.info(`task ${checked.id} ${existed ? 'updated' : 'added'} by the operator`);
    return { id: checked.id, result: existed ? 'updated' : 'created' };
  };

  const tokens = new TokenIssuer(opts.tokenSecret ?? randomBytes(32));
  const operatorToken = opts.operatorToken ?? randomBytes(24).toString('base64url');
  const server = await buildServer({
    store, tasks, metrics, tokens, limits: opts.limits, appDir: opts.appDir, datasetsDir: opts.datasetsDir, sdkDir: opts.sdkDir, logger: opts.logger, trustProxy: opts.trustProxy, requireClientKeys: opts.requireClientKeys, hosts: opts.hosts, pressureSampleMs: opts.pressureSampleMs,
    operator: { token: operatorToken, view, addTask, metricsAccess: opts.metricsAccess ?? 'operator' },
  });
  for (const { federation } of tasks.values()) federation.start();
  const evaluated = () => Promise.all([...evaluators.values()].map((e) => e.evaluatePending())).then(() => undefined);
  void evaluated();

  return {
    server,
    store,
    tasks,
    operatorToken,
    metrics,
    evaluated,
    async close() {
      await installing; // a task file being installed finishes first
      for (const { federation } of tasks.values()) federation.stop();
      await server.close();
      await Promise.all([...evaluators.values()].map((e) => e.close()));
      store.close();
    },
  };
}
