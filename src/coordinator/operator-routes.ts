/**
 * The operator API, `/v1/operator/…`, every route behind the operator token (operator-token.ts), and the
 * dashboard page that reads it (`/dashboard`, the build's `dashboard.html`). Same-origin only: cors.ts
 * refuses any other origin on these paths, since no task lists them.
 *
 *   GET  /v1/operator/tasks                                  one line per task
 *   GET  /v1/operator/tasks/:task                            the task's view (operator-view.ts)
 *   POST /v1/operator/tasks/:task/pause | resume             stop or restart assignments
 *   PUT  /v1/operator/tasks                                  add or update a task from its file's JSON
 *   GET  /v1/operator/tasks/:task/models/:version/download   a version as a TF.js layers model (zip)
 */
import type { FastifyInstance } from 'fastify';
import { zipSync } from 'fflate';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { OperatorTaskAdded, OperatorTaskLine } from '../core/operator.ts';
import { ApiFailure } from './api-failure.ts';
import type { OperatorView } from './operator-view.ts';
import { requireOperator } from './operator-token.ts';
import type { Federation } from './federation.ts';
import type { ModelSpec } from '../model/tf-model.ts';
import type { CoordinatorStore } from './store.ts';

/** Who may read /metrics: the operator (its token), anyone who reaches the port ('open', for a metrics port of its own), or nobody here ('none': served elsewhere). */
export type MetricsAccess = 'operator' | 'open' | 'none';

export interface OperatorOptions {
  token: string;
  view: OperatorView;
  /** Checks, registers and (re)starts a task from its file's JSON; throws a ValidationError naming the field. */
  addTask(json: unknown): Promise<OperatorTaskAdded>;
  metricsAccess: MetricsAccess;
}

/** A task as the server serves it (server.ts's ServedTask, which imports this module). */
interface ServedTask {
  federation: Federation;
  spec: ModelSpec;
}

interface Context {
  operator: OperatorOptions;
  store: CoordinatorStore;
  taskOf(id: string): ServedTask;
  versionOf(raw: string): number;
  tasks: ReadonlyMap<string, ServedTask>;
}

/** Task files are small; a model's weights are referenced by path, never sent here. */
const TASK_FILE_LIMIT = 256 * 1024;

export async function registerOperatorRoutes(app: FastifyInstance, ctx: Context): Promise<void> {
  await app.register(async (api) => {
    api.addHook('onRequest', async (req, reply) => {
      reply.header('cache-control', 'no-store');
      requireOperator(req, reply, ctx.operator.token);
    });

    api.get('/tasks', async (): Promise<OperatorTaskLine[]> =>
      [...ctx.tasks.values()].map(({ federation }) => {
        const s = federation.summary();
        return { id: s.id, name: s.name, paused: federation.paused, modelVersion: s.modelVersion, round: s.round, clientsLastHour: ctx.operator.view.population(s.id).lastHour };
      }),
    );

    api.get<{ Params: { task: string } }>('/tasks/:task', async (req) => ctx.operator.view.task(ctx.taskOf(req.params.task).federation, ctx.store));

    for (const action of ['pause', 'resume'] as const) {
      api.post<{ Params: { task: string } }>(`/tasks/:task/${action}`, async (req) => {
        const { federation } = ctx.taskOf(req.params.task);
        federation.setPaused(action === 'pause');
        req.log.info(`task ${federation.task.id} ${action === 'pause' ? 'paused' : 'resumed'} by the operator`);
        return { id: federation.task.id, paused: federation.paused };
      });
    }

    api.put('/tasks', { bodyLimit: TASK_FILE_LIMIT }, async (req, reply) => {
      if (typeof req.body !== 'object' || req.body === null) throw new ApiFailure(415, 'unsupported_media_type', 'send the task file as application/json', 'content-type');
      const added = await ctx.operator.addTask(req.body);
      return reply.code(added.result === 'created' ? 201 : 200).send(added);
    });

    api.get<{ Params: { task: string; version: string } }>('/tasks/:task/models/:version/download', async (req, reply) => {
      const { federation, spec } = ctx.taskOf(req.params.task);
      const version = ctx.versionOf(req.params.version);
      const weights = ctx.store.modelWeights(federation.task.id, version);
      if (!weights) throw new ApiFailure(404, 'unknown_version', 'no such model version', 'version');
      const modelJson = {
        format: 'layers-model',
        generatedBy: 'covey',
        convertedBy: null,
        modelTopology: spec.modelTopology,
        weightsManifest: [{ paths: ['weights.bin'], weights: spec.weightSpecs }],
        userDefinedMetadata: { task: federation.task.id, version, lineage: federation.lineage, labels: federation.task.labels },
      };
      // Weights do not compress: stored (level 0); model.json does.
      const zip = zipSync({
        'model.json': [new TextEncoder().encode(JSON.stringify(modelJson)), { level: 6 }],
        'weights.bin': [new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength), { level: 0 }],
      });
      const name = `${federation.task.id}-v${version}`;
      return reply.type('application/zip').header('content-disposition', `attachment; filename="${name}.zip"`).send(Buffer.from(zip.buffer, zip.byteOffset, zip.byteLength));
    });
  }, { prefix: '/v1/operator' });
}

/** `/dashboard`: the dashboard page of the app's build, when built. Its data needs the token, the page does not. */
export function registerDashboardPage(app: FastifyInstance, appDir: string | undefined): void {
  app.get('/dashboard', async (_req, reply) => {
    if (!appDir || !existsSync(join(appDir, 'dashboard.html'))) throw new ApiFailure(404, 'not_built', 'the dashboard is not built: run npm run build');
    return reply.header('cache-control', 'no-cache').sendFile('dashboard.html', appDir);
  });
}
