/**
 * Evaluates each new global model on the task's held-out set (examples no client holds) and records the
 * result. Runs one version at a time, after the round that made it has been committed; versions left
 * unevaluated by a crash are picked up at the next start.
 */
import type * as tf from '@tensorflow/tfjs';
import { inputShape } from '../core/features.ts';
import type { MetricName } from '../core/protocol.ts';
import { evaluate, writeWeights, type ExampleBatch } from '../model/tf-model.ts';
import type { CoordinatorStore } from './store.ts';
import type { TaskDefinition } from './task.ts';

export interface EvaluatorLog {
  info(msg: string): void;
  warn(msg: string): void;
}

export class Evaluator {
  private queue: Promise<void> = Promise.resolve();

  private constructor(
    private readonly task: TaskDefinition,
    private readonly store: CoordinatorStore,
    private readonly log: EvaluatorLog,
    private readonly model: tf.LayersModel,
    /** Null for a task without a held-out set: nothing is evaluated here. */
    private readonly testSet: ExampleBatch | null,
  ) {}

  static async create(task: TaskDefinition, store: CoordinatorStore, log: EvaluatorLog): Promise<Evaluator> {
    if (!task.loadTestSet) return new Evaluator(task, store, log, await task.buildModel(0), null);
    let testSet: ExampleBatch;
    try {
      testSet = task.loadTestSet();
    } catch (e) {
      const hint = (e as NodeJS.ErrnoException).code === 'ENOENT' ? ' (the demo data is made by `npm run build`)' : '';
      throw new Error(`task ${task.id}: cannot read its held-out set${hint}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    return new Evaluator(task, store, log, await task.buildModel(0), testSet);
  }

  /**
   * Evaluates every stored version that has no evaluation yet; resolves when done, and never rejects: a
   * version whose evaluation fails is recorded without numbers and logged, and the next ones still run.
   */
  evaluatePending(): Promise<void> {
    if (!this.testSet || this.closed) return this.queue;
    this.queue = this.queue
      .then(async () => {
        for (const version of this.store.unevaluatedVersions(this.task.id)) {
          // Yield between versions so requests are served while a backlog is worked off.
          await new Promise((resolve) => setImmediate(resolve));
          if (this.closed) return; // the task's new evaluator takes over
          try {
            await this.evaluateVersion(version);
          } catch (e) {
            this.log.warn(`task ${this.task.id} model v${version}: evaluation failed: ${errorText(e)}`);
            this.store.recordEvaluation(this.task.id, version, null, null, {}, Date.now());
          }
        }
      })
      .catch((e: unknown) => this.log.warn(`task ${this.task.id}: evaluations stopped: ${errorText(e)}`));
    return this.queue;
  }

  private closed = false;

  /** Finishes the evaluation under way, takes no more, and frees the model (a task replaced while running). */
  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    this.model.dispose();
  }

  private async evaluateVersion(version: number): Promise<void> {
    const weights = this.store.modelVector(this.task.id, version);
    if (!weights || !this.testSet) return;
    writeWeights(this.model, weights);
    const result = await evaluate(this.model, this.testSet, inputShape(this.task.input));
    const metrics: Partial<Record<MetricName, number>> = {};
    for (const name of this.task.metrics) {
      const value = result[name];
      if (value !== undefined && Number.isFinite(value)) metrics[name] = value;
    }
    const finite = (x: number) => (Number.isFinite(x) ? x : null);
    this.store.recordEvaluation(this.task.id, version, finite(result.accuracy), finite(result.loss), metrics, Date.now());
    const shown = Object.entries(metrics).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ');
    if (!Number.isFinite(result.loss)) this.log.warn(`task ${this.task.id} model v${version}: held-out loss is ${result.loss}: the model diverged`);
    else this.log.info(`task ${this.task.id} model v${version}: held-out ${shown}, loss ${result.loss.toFixed(4)} (${this.testSet.count} examples)`);
  }
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));
