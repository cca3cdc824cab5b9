/**
 * The page's trainer, loaded when first used: a prediction for a drawing, or Join. Until then neither the
 * worker bridge's code nor the worker itself is loaded, which keeps the page's first script small.
 */
import type { Trainer } from '../client/federation-client.ts';
import type { WorkerBridge } from '../client/worker-bridge.ts';
import type { BackendName, BackendReport, PredictJob } from '../worker/protocol.ts';

export class LazyBridge implements Trainer {
  private bridge: Promise<WorkerBridge> | undefined;
  private loaded: WorkerBridge | undefined;

  constructor(
    private readonly createWorker: () => Worker,
    private readonly preferredBackend?: BackendName,
  ) {}

  private get(): Promise<WorkerBridge> {
    this.bridge ??= import('../client/worker-bridge.ts').then(({ WorkerBridge }) => (this.loaded = new WorkerBridge(this.createWorker, this.preferredBackend)));
    this.bridge.catch(() => (this.bridge = undefined));
    return this.bridge;
  }

  backend(): Promise<BackendReport> {
    return this.get().then((b) => b.backend());
  }

  train(...args: Parameters<WorkerBridge['train']>): ReturnType<WorkerBridge['train']> {
    return this.get().then((b) => b.train(...args));
  }

  predict(job: PredictJob): Promise<Float32Array[]> {
    return this.get().then((b) => b.predict(job));
  }

  onBackend(listener: (report: BackendReport) => void): () => void {
    let unsubscribe: (() => void) | undefined;
    let gone = false;
    void this.get().then((b) => {
      if (!gone) unsubscribe = b.onBackend(listener);
    }, () => undefined);
    return () => {
      gone = true;
      unsubscribe?.();
    };
  }

  /** Stops the worker if one was started; a bridge still loading starts none until asked again. */
  terminate(): void {
    this.loaded?.terminate();
  }
}

