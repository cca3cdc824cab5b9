/**
 * Takes part in a task's federation from this browser: check in, train the round's model in the worker on
 * the person's stored examples, upload the delta, and again, until the signal aborts. Only the update frame
 * (delta + aggregate numbers) and small JSON leave the page.
 */
import { codecsByName } from '../core/codecs/index.ts';
import type { CheckinResponse, TaskSummary, UploadAck } from '../core/protocol.ts';
import { encodeUpdateFrame } from '../core/update-frame.ts';
import type { BackendReport } from '../worker/protocol.ts';
import { ApiRequestError, type CoordinatorApi } from './coordinator-api.ts';
import { DEFAULT_RETRY, backoffDelayMs, isRetryableStatus, sleep } from './retry-policy.ts';
import type { ExampleStore } from './store.ts';
import type { WorkerBridge } from './worker-bridge.ts';

export type Phase = 'checking-in' | 'waiting' | 'training' | 'uploading' | 'retrying';

export type FederationEvent =
  | { type: 'phase'; phase: Phase; message: string }
  | { type: 'backend'; report: BackendReport }
  | { type: 'round'; roundId: number; modelVersion: number }
  | { type: 'progress'; fraction: number; epoch: number; epochs: number; loss: number }
  | { type: 'contributed'; roundId: number; ack: UploadAck; loss: number; numExamples: number; trainMs: number; bytes: number }
  | { type: 'error'; message: string };

export interface FederationClientOptions {
  api: CoordinatorApi;
  store: ExampleStore;
  bridge: WorkerBridge;
  taskId: string;
  /** Multiplier from stored uint8 features to model inputs (the task's normalisation). */
  featureScale: number;
  onEvent: (e: FederationEvent) => void;
}

export class FederationClient {
  constructor(private readonly o: FederationClientOptions) {}

  /** Runs rounds until `signal` aborts; resolves then. Failures are reported as events and retried. */
  async run(signal: AbortSignal): Promise<void> {
    const emit = this.o.onEvent;
    const clientId = await this.o.store.clientId();
    const report = await this.o.bridge.backend();
    emit({ type: 'backend', report });
    let failures = 0;
    let task: TaskSummary | undefined;
    while (!signal.aborted) {
      try {
        task ??= await this.o.api.task(this.o.taskId, signal);
        emit({ type: 'phase', phase: 'checking-in', message: 'Checking in with the coordinator' });
        const exampleCount = await this.o.store.count(this.o.taskId);
        const answer = await this.o.api.checkin(this.o.taskId, { clientId, exampleCount, backend: report.backend }, signal);
        if (answer.status === 'wait') {
          emit({ type: 'phase', phase: 'waiting', message: `Waiting: ${answer.reason}` });
          await sleep(answer.retryAfterMs, signal);
        } else {
          await this.contribute(task, clientId, answer, signal);
        }
        failures = 0;
      } catch (e) {
        if (signal.aborted) break;
        const delay = backoffDelayMs(failures++, DEFAULT_RETRY);
        emit({ type: 'error', message: e instanceof Error ? e.message : String(e) });
        emit({ type: 'phase', phase: 'retrying', message: `Trying again in ${Math.ceil(delay / 1000)} s` });
        await sleep(delay, signal).catch(() => undefined);
      }
    }
  }

  private async contribute(task: TaskSummary, clientId: string, a: Extract<CheckinResponse, { status: 'assigned' }>, signal: AbortSignal): Promise<void> {
    const emit = this.o.onEvent;
    emit({ type: 'round', roundId: a.roundId, modelVersion: a.modelVersion });
    const featureCount = task.inputShape.reduce((x, y) => x * y, 1);
    const data = await this.o.store.readPacked(this.o.taskId, featureCount);
    emit({ type: 'phase', phase: 'training', message: `Training model v${a.modelVersion} on ${data.count} examples (round ${a.roundId})` });
    const result = await this.o.bridge.train(
      {
        modelUrl: this.o.api.url(a.modelUrl),
        config: a.config,
        inputShape: task.inputShape,
        numClasses: task.labels.length,
        features: data.pixels.buffer as ArrayBuffer,
        labels: data.labels.buffer as ArrayBuffer,
        count: data.count,
        featureScale: this.o.featureScale,
      },
      (p) => emit({ type: 'progress', fraction: (p.epoch * p.batchesPerEpoch + p.batch) / (p.epochs * p.batchesPerEpoch), epoch: p.epoch + 1, epochs: p.epochs, loss: p.loss }),
      signal,
    );
    const codec = codecsByName.get(a.config.codec);
    if (!codec) throw new Error(`the coordinator asked for codec "${a.config.codec}", which this client does not have`);
    const frame = encodeUpdateFrame(codec, { clientId, baseVersion: a.modelVersion, numExamples: result.numExamples, loss: result.loss, accuracy: clamp01(result.accuracy), backend: result.backend, trainMs: Math.round(result.trainMs) }, result.delta);
    // Made before the first try, so that a retry after a lost answer is recognised and counted once.
    const updateId = `u-${crypto.randomUUID()}`;
    emit({ type: 'phase', phase: 'uploading', message: `Uploading the update (${(frame.byteLength / 1024).toFixed(0)} kB)` });
    const ack = await this.uploadWithRetry(a.uploadUrl, updateId, frame, signal);
    if (ack) emit({ type: 'contributed', roundId: a.roundId, ack, loss: result.loss, numExamples: result.numExamples, trainMs: result.trainMs, bytes: frame.byteLength });
  }

  /** Returns the ack, or null when the coordinator refused the update for good (it is then dropped). */
  private async uploadWithRetry(uploadUrl: string, updateId: string, frame: Uint8Array<ArrayBuffer>, signal: AbortSignal): Promise<UploadAck | null> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.o.api.upload(uploadUrl, updateId, frame, signal);
      } catch (e) {
        if (signal.aborted) throw e;
        const status = e instanceof ApiRequestError ? e.status : undefined;
        if (!isRetryableStatus(status) || attempt + 1 >= DEFAULT_RETRY.maxAttempts) {
          this.o.onEvent({ type: 'error', message: `Update dropped: ${e instanceof Error ? e.message : String(e)}` });
          return null;
        }
        const delay = backoffDelayMs(attempt);
        this.o.onEvent({ type: 'phase', phase: 'retrying', message: `Upload failed; retrying in ${Math.ceil(delay / 1000)} s` });
        await sleep(delay, signal);
      }
    }
  }
}

const clamp01 = (x: number): number | undefined => (Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : undefined);
