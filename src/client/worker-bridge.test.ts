import { afterEach, describe, expect, it, vi } from 'vitest';
import type { TrainJob, WorkerRequest, WorkerResponse } from '../worker/protocol.ts';
import { CANCEL_GRACE_MS, WorkerBridge } from './worker-bridge.ts';

/** A worker that records what it is sent and answers only when the test says. */
class FakeWorker extends EventTarget {
  readonly sent: WorkerRequest[] = [];
  terminated = false;
  /** Answers `init` at once, or only when `ready()` is called. */
  constructor(private readonly slowStart = false) {
    super();
  }
  postMessage(msg: WorkerRequest): void {
    this.sent.push(msg);
    if (msg.type === 'init' && !this.slowStart) queueMicrotask(() => this.ready());
  }
  ready(): void {
    this.answer({ type: 'ready', report: { backend: 'cpu', fallbacks: [] } });
  }
  answer(msg: WorkerResponse): void {
    this.dispatchEvent(new MessageEvent('message', { data: msg }));
  }
  terminate(): void {
    this.terminated = true;
  }
  lastTrain(): number {
    return (this.sent.filter((m) => m.type === 'train').at(-1) as { jobId: number }).jobId;
  }
}

const job = (): TrainJob => ({ modelUrl: 'http://x/model.json', config: { epochs: 1, batchSize: 1, learningRate: 0.1, optimizer: 'sgd', codec: 'f32' }, inputShape: [1], numClasses: 2, features: new ArrayBuffer(4), dtype: 'float32', labels: new ArrayBuffer(1), count: 1, featureScale: 1 });
const trained = (jobId: number): WorkerResponse => ({ type: 'trained', jobId, delta: new ArrayBuffer(4), loss: 0.5, accuracy: 1, numExamples: 1, trainMs: 1, backend: 'cpu' });
const flush = () => new Promise<void>((r) => setTimeout(r, 0));

afterEach(() => vi.useRealTimers());

describe('leaving during training', () => {
  it('rejects at once, asks the worker to cancel, and keeps the worker when it stops within the grace', async () => {
    const workers: FakeWorker[] = [];
    const bridge = new WorkerBridge(() => (workers.push(new FakeWorker()), workers.at(-1) as unknown as Worker));
    const leave = new AbortController();
    const first = bridge.train(job(), () => undefined, leave.signal);
    await flush();
    const w = workers[0]!;
    const id = w.lastTrain();
    leave.abort(new DOMException('left', 'AbortError'));
    await expect(first).rejects.toThrow('left');
    expect(w.sent.at(-1)).toEqual({ type: 'cancel', jobId: id });
    // The next job waits until the worker is done with the cancelled one.
    const second = bridge.train(job(), () => undefined);
    await flush();
    expect(w.sent.filter((m) => m.type === 'train')).toHaveLength(1);
    w.answer({ type: 'failed', jobId: id, message: 'aborted', aborted: true });
    await flush();
    expect(w.sent.filter((m) => m.type === 'train')).toHaveLength(2);
    w.answer(trained(w.lastTrain()));
    await expect(second).resolves.toMatchObject({ loss: 0.5 });
    expect(w.terminated).toBe(false);
    expect(workers).toHaveLength(1);
  });

  it('terminates a worker that has not stopped within the grace, and the next job runs on a new one', async () => {
    vi.useFakeTimers();
    const workers: FakeWorker[] = [];
    const bridge = new WorkerBridge(() => (workers.push(new FakeWorker()), workers.at(-1) as unknown as Worker));
    const leave = new AbortController();
    const first = bridge.train(job(), () => undefined, leave.signal);
    await vi.advanceTimersByTimeAsync(0);
    leave.abort(new DOMException('left', 'AbortError'));
    await expect(first).rejects.toThrow('left');
    const second = bridge.train(job(), () => undefined);
    await vi.advanceTimersByTimeAsync(CANCEL_GRACE_MS - 10);
    expect(workers[0]!.terminated).toBe(false);
    await vi.advanceTimersByTimeAsync(20);
    expect(workers[0]!.terminated).toBe(true);
    await vi.advanceTimersByTimeAsync(0);
    const w = workers[1]!;
    expect(w.sent.map((m) => m.type)).toEqual(['init', 'train']);
    w.answer(trained(w.lastTrain()));
    await expect(second).resolves.toMatchObject({ numExamples: 1 });
  });

  it('does not train when Leave comes while the worker is starting', async () => {
    const w = new FakeWorker(true);
    const bridge = new WorkerBridge(() => w as unknown as Worker);
    const leave = new AbortController();
    const run = bridge.train(job(), () => undefined, leave.signal);
    await flush();
    leave.abort(new DOMException('left', 'AbortError'));
    w.ready();
    await expect(run).rejects.toThrow('left');
    expect(w.sent.map((m) => m.type)).toEqual(['init']);
  });

  it('rejects a job waiting on a start that is stopped, and the next job starts a new worker', async () => {
    const workers = [new FakeWorker(true), new FakeWorker()];
    let made = 0;
    const bridge = new WorkerBridge(() => workers[made++] as unknown as Worker);
    const first = bridge.train(job(), () => undefined);
    await flush();
    bridge.terminate();
    await expect(first).rejects.toThrow('stopped');
    const second = bridge.train(job(), () => undefined);
    await flush();
    workers[1]!.answer(trained(workers[1]!.lastTrain()));
    await expect(second).resolves.toMatchObject({ loss: 0.5 });
  });
});
