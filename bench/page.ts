/**
 * The browser half of `npm run bench`: trains the digits model on the same examples with the same config,
 * once in the trainer worker and once on the page's main thread, and watches the main thread meanwhile
 * (the longest gap between 5 ms heartbeats, and the longest "longtask" entry).
 */
import { decodeRecords } from '../src/core/example-records.ts';
import type { TrainingConfig } from '../src/core/protocol.ts';
import { WorkerBridge } from '../src/client/worker-bridge.ts';
import type { BackendName, BackendReport } from '../src/worker/protocol.ts';
import type { CodecThroughput } from './codec-throughput.ts';

export interface BenchResult {
  backend: string;
  where: 'worker' | 'main';
  /** Steps between reads of the loss: 1 as the trainer did before issue 14, 16 (its default) after. */
  lossEvery: number;
  samples: number;
  trainMs: number;
  samplesPerSecond: number;
  msPerStep: number;
  longestTaskMs: number;
  longestHeartbeatGapMs: number;
}

const CONFIG: TrainingConfig = { epochs: 1, batchSize: 32, learningRate: 0.002, optimizer: 'adam', codec: 'f32' };
const MODEL_URL = new URL('/v1/tasks/digits/models/0/model.json', location.origin).href;

async function examples(count: number): Promise<{ pixels: Uint8Array; labels: Uint8Array; count: number }> {
  const bytes = new Uint8Array(await (await fetch('/datasets/digits/iid/00.bin')).arrayBuffer());
  const records = decodeRecords(bytes, 784).slice(0, count);
  const pixels = new Uint8Array(records.length * 784);
  records.forEach((r, i) => pixels.set(r.pixels, i * 784));
  return { pixels, labels: Uint8Array.from(records, (r) => r.label), count: records.length };
}

/** Watches the main thread while `work` runs. */
async function watchMainThread<T>(work: () => Promise<T>): Promise<{ value: T; longestTaskMs: number; longestGapMs: number }> {
  let longestTaskMs = 0;
  let longestGapMs = 0;
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) longestTaskMs = Math.max(longestTaskMs, e.duration);
  });
  observer.observe({ type: 'longtask', buffered: false });
  let last = performance.now();
  let running = true;
  const beat = () => {
    const now = performance.now();
    longestGapMs = Math.max(longestGapMs, now - last);
    last = now;
    if (running) setTimeout(beat, 5);
  };
  setTimeout(beat, 5);
  try {
    const value = await work();
    return { value, longestTaskMs, longestGapMs };
  } finally {
    running = false;
    observer.disconnect();
  }
}

const steps = (samples: number) => Math.ceil(samples / CONFIG.batchSize) * CONFIG.epochs;

async function inWorker(backend: BackendName, count: number, lossEvery: number): Promise<BenchResult> {
  const bridge = new WorkerBridge(() => new Worker(new URL('../src/worker/trainer.worker.ts', import.meta.url), { type: 'module' }), backend);
  const report = await bridge.backend();
  const job = async (n: number) => {
    const data = await examples(n);
    return bridge.train(
      { modelUrl: MODEL_URL, config: CONFIG, inputShape: [28, 28, 1], numClasses: 10, features: data.pixels.buffer as ArrayBuffer, dtype: 'uint8', labels: data.labels.buffer as ArrayBuffer, count: data.count, featureScale: 1 / 255, lossEvery },
      () => undefined,
    );
  };
  await job(64); // warm-up: shader compilation, model download
  const { value, longestTaskMs, longestGapMs } = await watchMainThread(() => job(count));
  bridge.terminate();
  return { backend: report.backend, where: 'worker', lossEvery, samples: value.numExamples, trainMs: value.trainMs, samplesPerSecond: (value.numExamples * CONFIG.epochs * 1000) / value.trainMs, msPerStep: value.trainMs / steps(value.numExamples), longestTaskMs, longestHeartbeatGapMs: longestGapMs };
}

async function onMainThread(backend: BackendName, count: number, lossEvery: number): Promise<BenchResult> {
  const tf = await import('@tensorflow/tfjs');
  const { chooseBackend } = await import('../src/worker/backend.ts');
  const { trainLocally } = await import('../src/model/tf-model.ts');
  const report = await chooseBackend(backend);
  const job = async (n: number) => {
    const data = await examples(n);
    const model = await tf.loadLayersModel(MODEL_URL);
    const features = Float32Array.from(data.pixels, (v) => v / 255);
    try {
      return await trainLocally(model, { features, labels: Int32Array.from(data.labels), count: data.count }, CONFIG, { inputShape: [28, 28, 1], numClasses: 10, lossEvery });
    } finally {
      model.dispose();
    }
  };
  await job(64);
  const { value, longestTaskMs, longestGapMs } = await watchMainThread(() => job(count));
  return { backend: report.backend, where: 'main', lossEvery, samples: value.numExamples, trainMs: value.trainMs, samplesPerSecond: (value.numExamples * CONFIG.epochs * 1000) / value.trainMs, msPerStep: value.trainMs / steps(value.numExamples), longestTaskMs, longestHeartbeatGapMs: longestGapMs };
}

/** The trainer worker left to choose: the backend its probe settles on for the digits CNN, with the probe's numbers. */
async function probe(): Promise<BackendReport> {
  const bridge = new WorkerBridge(() => new Worker(new URL('../src/worker/trainer.worker.ts', import.meta.url), { type: 'module' }));
  const data = await examples(32);
  await bridge.train({ modelUrl: MODEL_URL, config: CONFIG, inputShape: [28, 28, 1], numClasses: 10, features: data.pixels.buffer as ArrayBuffer, dtype: 'uint8', labels: data.labels.buffer as ArrayBuffer, count: data.count, featureScale: 1 / 255 }, () => undefined);
  const report = await bridge.backend();
  bridge.terminate();
  return report;
}

declare global {
  interface Window {
    runBench(backend: BackendName, where: 'worker' | 'main', count: number, lossEvery: number): Promise<BenchResult>;
    runProbe(): Promise<BackendReport>;
    /** Codec throughput on a delta of `length` values, measured in a module worker (bench/codec-throughput.ts). */
    runCodecBench(length: number): Promise<CodecThroughput[]>;
  }
}

window.runCodecBench = (length) =>
  new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./codec-worker.ts', import.meta.url), { type: 'module' });
    worker.onmessage = (e: MessageEvent<CodecThroughput[]>) => (worker.terminate(), resolve(e.data));
    worker.onerror = (e) => (worker.terminate(), reject(new Error(e.message)));
    worker.postMessage({ length });
  });

window.runBench = (backend, where, count, lossEvery) => (where === 'worker' ? inWorker(backend, count, lossEvery) : onMainThread(backend, count, lossEvery));
window.runProbe = probe;
document.getElementById('out')!.textContent = 'ready: call runBench(backend, "worker" | "main", examples, lossEvery) or runProbe()';
