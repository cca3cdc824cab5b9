/**
 * Owns the trainer worker (house style 11): starts it on first use, runs one training job at a time, cancels
 * a job that is aborted (and terminates the worker if it does not stop soon: TF.js cannot stop mid-kernel),
 * and reports the backend it got.
 */
import type { BackendName, BackendReport, HeldOutEvaluation, PredictJob, TrainJob, WorkerRequest, WorkerResponse } from '../worker/protocol.ts';

export interface TrainOutcome {
  delta: Float32Array;
  loss: number;
  accuracy: number;
  numExamples: number;
  trainMs: number;
  backend: BackendName;
  /** The received model on the held-out examples, when the job had some. */
  evaluation?: HeldOutEvaluation;
  /** With personalization: the personal model's weights. */
  personalWeights?: Float32Array;
}

/** How long a cancelled job may take to stop before the worker is terminated. */
export const CANCEL_GRACE_MS = 5_000;

export type ProgressListener = (p: Extract<WorkerResponse, { type: 'progress' }>) => void;

export class WorkerBridge {
  private worker: Worker | undefined;
  private ready: Promise<BackendReport> | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private nextJobId = 1;
  /** Rejects of predictions in flight: a stopped worker answers none of them. */
  private readonly pendingPredictions = new Set<(e: Error) => void>();
  private readonly backendListeners = new Set<(report: BackendReport) => void>();
  /** Training jobs the worker has not answered yet: a stopped worker answers none of them. */
  private readonly jobsInFlight = new Set<(e: Error) => void>();
  /** Rejects the start in progress: a worker terminated before it said it was ready never will. */
  private rejectStart: ((e: Error) => void) | undefined;

  constructor(
    private readonly createWorker: () => Worker,
    private readonly preferredBackend?: BackendName,
  ) {}

  /**
   * Starts the worker if needed and resolves with its backend: the one it started on, or, once a job has
   * brought the task's model, the one settled for it (probed, remembered or forced).
   */
  backend(): Promise<BackendReport> {
    if (!this.ready) {
      const worker = (this.worker = this.createWorker());
      worker.addEventListener('message', (e: MessageEvent<WorkerResponse>) => {
        if (e.data.type !== 'backend' || this.worker !== worker) return;
        this.ready = Promise.resolve(e.data.report);
        for (const listener of this.backendListeners) listener(e.data.report);
      });
      this.ready = new Promise<BackendReport>((resolve, reject) => {
        this.rejectStart = reject;
        const onMessage = (e: MessageEvent<WorkerResponse>) => {
          if (e.data.type === 'ready') resolve(e.data.report);
          else if (e.data.type === 'failed' && e.data.jobId === null) reject(new Error(e.data.message));
          else return;
          worker.removeEventListener('message', onMessage);
        };
        worker.addEventListener('message', onMessage);
        worker.addEventListener('error', (e) => reject(new Error(`trainer worker failed to start: ${e.message}`)), { once: true });
        this.post({ type: 'init', preferredBackend: this.preferredBackend });
      });
      this.ready.catch(() => this.terminate());
    }
    return this.ready;
  }

  /** Calls `listener` whenever the worker settles its backend for a model (at its first job); returns the unsubscribe. */
  onBackend(listener: (report: BackendReport) => void): () => void {
    this.backendListeners.add(listener);
    return () => this.backendListeners.delete(listener);
  }

  /**
   * Trains one job; jobs queue behind each other, each until the worker is done with the one before. Aborting
   * rejects at once with the signal's reason, and asks the worker to cancel: it stops before its next step.
   * A worker that has not stopped within `CANCEL_GRACE_MS` (a long step, or the first round's backend probe,
   * which then runs again next time) is terminated.
   */
  train(job: TrainJob, onProgress: ProgressListener, signal?: AbortSignal): Promise<TrainOutcome> {
    const started = this.queue.then(() => this.startJob(job, onProgress, signal));
    this.queue = started.then((s) => s.workerDone, () => undefined);
    return started.then((s) => s.outcome);
  }

  /**
   * Each example's class probabilities under the model at `job.modelUrl`. Not queued behind training: a
   * prediction is small and the worker serves it between training steps.
   */
  async predict(job: PredictJob): Promise<Float32Array[]> {
    const worker = await this.started();
    const jobId = this.nextJobId++;
    return new Promise((resolve, reject) => {
      this.pendingPredictions.add(reject);
      const onMessage = (e: MessageEvent<WorkerResponse>) => {
        const m = e.data;
        if (!('jobId' in m) || m.jobId !== jobId) return;
        worker.removeEventListener('message', onMessage);
        this.pendingPredictions.delete(reject);
        if (m.type === 'predicted') {
          const all = new Float32Array(m.probabilities);
          resolve(Array.from({ length: job.count }, (_, i) => all.subarray(i * m.classes, (i + 1) * m.classes)));
        } else if (m.type === 'failed') reject(new Error(m.message));
      };
      worker.addEventListener('message', onMessage);
      worker.postMessage({ type: 'predict', jobId, job } satisfies WorkerRequest, [job.features, ...(job.weights ? [job.weights] : []), ...(job.model ? [job.model.weights] : [])]);
    });
  }

  terminate(): void {
    for (const reject of this.pendingPredictions) reject(new Error('the trainer worker was stopped'));
    this.pendingPredictions.clear();
    for (const stop of [...this.jobsInFlight]) stop(new Error('the trainer worker was stopped'));
    this.rejectStart?.(new Error('the trainer worker was stopped'));
    this.rejectStart = undefined;
    this.worker?.terminate();
    this.worker = undefined;
    this.ready = undefined;
  }

  private async startJob(job: TrainJob, onProgress: ProgressListener, signal?: AbortSignal): Promise<{ outcome: Promise<TrainOutcome>; workerDone: Promise<void> }> {
    signal?.throwIfAborted();
    const worker = await this.started();
    // Left while the worker was starting: an abort listener added now would never fire.
    signal?.throwIfAborted();
    const jobId = this.nextJobId++;
    let done!: () => void;
    const workerDone = new Promise<void>((resolve) => (done = resolve));
    const outcome = new Promise<TrainOutcome>((resolve, reject) => {
      let cancelled = false;
      let grace: ReturnType<typeof setTimeout> | undefined;
      const finish = () => {
        worker.removeEventListener('message', onMessage);
        signal?.removeEventListener('abort', onAbort);
        clearTimeout(grace);
        this.jobsInFlight.delete(stopped);
        done();
      };
      // The worker was terminated (by this job's grace running out, or by another): nothing more will come.
      const stopped = (e: Error) => {
        finish();
        reject(e);
      };
      const onAbort = () => {
        cancelled = true;
        reject(signal!.reason);
        worker.postMessage({ type: 'cancel', jobId } satisfies WorkerRequest);
        grace = setTimeout(() => this.terminate(), CANCEL_GRACE_MS);
      };
      const onMessage = (e: MessageEvent<WorkerResponse>) => {
        const m = e.data;
        if (!('jobId' in m) || m.jobId !== jobId) return;
        if (m.type === 'progress') return cancelled ? undefined : onProgress(m);
        if (m.type !== 'trained' && m.type !== 'failed') return;
        finish();
        if (m.type === 'trained') {
          resolve({ delta: new Float32Array(m.delta), loss: m.loss, accuracy: m.accuracy, numExamples: m.numExamples, trainMs: m.trainMs, backend: m.backend, ...(m.evaluation ? { evaluation: m.evaluation } : {}), ...(m.personalWeights ? { personalWeights: new Float32Array(m.personalWeights) } : {}) });
        } else reject(new Error(m.message));
      };
      this.jobsInFlight.add(stopped);
      worker.addEventListener('message', onMessage);
      signal?.addEventListener('abort', onAbort, { once: true });
      worker.postMessage({ type: 'train', jobId, job } satisfies WorkerRequest, [job.features, job.labels, ...(job.model ? [job.model.weights] : []), ...(job.heldOut ? [job.heldOut.features, job.heldOut.labels] : [])]);
    });
    return { outcome, workerDone };
  }

  /** The worker once it is ready; rejects if it was stopped meanwhile. */
  private async started(): Promise<Worker> {
    await this.backend();
    if (!this.worker) throw new Error('the trainer worker was stopped');
    return this.worker;
  }

  private post(msg: WorkerRequest, transfer: Transferable[] = []): void {
    this.worker!.postMessage(msg, transfer);
  }
}
