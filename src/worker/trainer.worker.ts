/// <reference lib="webworker" />
/**
 * The trainer: a module Web Worker that loads the round's global model, trains it on the examples the page
 * sends, and answers with the weight delta. The page stays responsive because nothing here runs on its
 * thread. The same bundle serves the PWA and sites that embed Covey.
 */
import * as tf from '@tensorflow/tfjs';
import { isBatchRange } from '../core/protocol.ts';
import { assertNever } from '../core/validate.ts';
import { chooseBackend, settleBackend } from './backend.ts';
import { choiceKey, indexedDbMemory } from './backend-memory.ts';
import { chooseBatch, measureBatches, type ProbeSubject } from './probe.ts';
import type { BackendName, BackendReport, PredictJob, TrainJob, WorkerRequest, WorkerResponse } from './protocol.ts';
import { BACKEND_NAMES } from './protocol.ts';
import { writeWeights } from '../model/tf-model.ts';
import { fromMemory, heldArtifacts, runTrainJob } from './train-job.ts';

declare const self: DedicatedWorkerGlobalScope;

/** The backend at start, and the one settled for the task's model at the first job (worker/backend.ts). */
let backend: Promise<BackendReport> | undefined;
let settled: Promise<BackendReport> | undefined;
/** The backend the page asked for (`?backend=`), if any. */
let asked: BackendName | undefined;
const running = new Map<number, AbortController>();

const post = (msg: WorkerResponse, transfer: Transferable[] = []) => self.postMessage(msg, transfer);

/** Messages come from the page that started this worker; still, read them as `unknown` first. */
function isRequest(data: unknown): data is WorkerRequest {
  if (typeof data !== 'object' || data === null) return false;
  const m = data as Partial<Record<string, unknown>>;
  if (m.type === 'init') return true;
  if (m.type === 'cancel') return typeof m.jobId === 'number';
  if (m.type === 'predict') {
    const job = (typeof m.job === 'object' && m.job !== null ? m.job : {}) as Partial<PredictJob>;
    return typeof m.jobId === 'number' && typeof job.modelUrl === 'string' && isHeldModel(job.model) && job.features instanceof ArrayBuffer && Number.isInteger(job.count) && Array.isArray(job.inputShape);
  }
  if (m.type !== 'train' || typeof m.jobId !== 'number' || typeof m.job !== 'object' || m.job === null) return false;
  const job = m.job as Partial<TrainJob>;
  return typeof job.modelUrl === 'string' && isHeldModel(job.model) && job.features instanceof ArrayBuffer && (job.dtype === 'uint8' || job.dtype === 'float32') && job.labels instanceof ArrayBuffer
    && Number.isInteger(job.count) && Array.isArray(job.inputShape) && typeof job.config === 'object'
    && (job.lossEvery === undefined || (Number.isInteger(job.lossEvery) && job.lossEvery > 0))
    && (job.config.batchRange === undefined || isBatchRange(job.config.batchRange));
}

/** An optional model from the page: absent, or topology, weight specs and an ArrayBuffer of weights. */
const isHeldModel = (m: unknown): boolean =>
  m === undefined || (typeof m === 'object' && m !== null && (m as TrainJob['model'])!.weights instanceof ArrayBuffer && Array.isArray((m as TrainJob['model'])!.weightSpecs) && typeof (m as TrainJob['model'])!.topology === 'object');

self.onmessage = (event: MessageEvent<unknown>) => {
  const msg = event.data;
  if (!isRequest(msg)) {
    // A job the page is waiting for is told so by its id; anything else, as the worker's own failure.
    const jobId = typeof (msg as { jobId?: unknown } | null)?.jobId === 'number' ? (msg as { jobId: number }).jobId : null;
    post({ type: 'failed', jobId, message: 'the trainer received a malformed message', aborted: false });
    return;
  }
  switch (msg.type) {
    case 'init': {
      const preferred = BACKEND_NAMES.includes(msg.preferredBackend as never) ? msg.preferredBackend : undefined;
      asked = preferred;
      backend ??= chooseBackend(preferred);
      backend.then(
        (report) => post({ type: 'ready', report }),
        (e: unknown) => post({ type: 'failed', jobId: null, message: errorMessage(e), aborted: false }),
      );
      break;
    }
    case 'train':
      void runJob(msg.jobId, msg.job);
      break;
    case 'predict':
      void predict(msg.jobId, msg.job);
      break;
    case 'cancel':
      running.get(msg.jobId)?.abort();
      break;
    default:
      assertNever(msg);
  }
};

async function runJob(jobId: number, job: TrainJob): Promise<void> {
  const controller = new AbortController();
  running.set(jobId, controller);
  try {
    const report = await settle(job);
    const range = job.config.batchRange;
    const trained = range ? { ...job, config: { ...job.config, batchSize: await batchFor(job, report, range) } } : job;
    const r = await runTrainJob(trained, controller.signal, (p) => post({ type: 'progress', jobId, ...p }));
    post(
      {
        type: 'trained',
        jobId,
        delta: r.delta.buffer as ArrayBuffer,
        loss: r.loss,
        accuracy: r.accuracy,
        numExamples: r.numExamples,
        trainMs: r.trainMs,
        backend: report.backend,
        ...(r.evaluation ? { evaluation: r.evaluation } : {}),
        ...(r.personalWeights ? { personalWeights: r.personalWeights.buffer as ArrayBuffer } : {}),
      },
      [r.delta.buffer as ArrayBuffer, ...(r.personalWeights ? [r.personalWeights.buffer as ArrayBuffer] : [])],
    );
  } catch (e) {
    post({ type: 'failed', jobId, message: errorMessage(e), aborted: controller.signal.aborted });
  } finally {
    running.delete(jobId);
  }
}

/**
 * The models last used for predictions, kept while their URL (an immutable version) stays the same: the
 * shared one, and one whose weights are replaced by a person's own for each personal prediction.
 */
const predictors: Record<'shared' | 'personal', { url: string; model: Promise<tf.LayersModel> } | undefined> = { shared: undefined, personal: undefined };

function predictorFor(kind: 'shared' | 'personal', url: string, held?: TrainJob['model']): Promise<tf.LayersModel> {
  const current = predictors[kind];
  if (current?.url === url) return current.model;
  void current?.model.then((m) => m.dispose(), () => undefined);
  const model = tf.loadLayersModel(held ? fromMemory(held) : url);
  predictors[kind] = { url, model };
  model.catch(() => (predictors[kind] = undefined));
  return model;
}

/** The task's model as the probe takes it: the job's own copy, or fetched from its URL. */
async function subjectOf(job: TrainJob): Promise<ProbeSubject> {
  const artifacts = job.model ? heldArtifacts({ ...job.model, weights: job.model.weights.slice(0) }) : await tf.io.http(job.modelUrl).load!();
  return { artifacts, inputShape: job.inputShape, numClasses: job.numClasses, batchSize: job.config.batchSize };
}

/**
 * Settles the backend once, at the first training job, on that job's model: probed, remembered or forced.
 * A change is posted to the page before the job runs, and predictors made on the backend at start are dropped.
 */
function settle(job: TrainJob): Promise<BackendReport> {
  if (settled) return settled;
  const attempt: { settling?: Promise<BackendReport> } = {};
  attempt.settling = (async () => {
    const initial = await (backend ??= chooseBackend());
    // The probe switches TF.js between backends: no prediction may be running on one meanwhile.
    await Promise.allSettled([...predicting]);
    let report: BackendReport;
    try {
      // Forced only where the asked-for backend works; otherwise the probe chooses among those that do.
      const forced = asked !== undefined && initial.backend === asked;
      report = await settleBackend(initial, await subjectOf(job), { forced, memory: indexedDbMemory(), device: await deviceName() });
    } catch {
      // The model could not be fetched for the probe (offline, with no copy held), or the probe failed:
      // train on the backend at start this time, and settle at the next job.
      if (settled === attempt.settling) settled = undefined;
      await tf.setBackend(initial.backend);
      return initial;
    }
    // Predictors were made on the backend at start: dropped (and their tensors freed) before any backend goes.
    for (const kind of ['shared', 'personal'] as const) {
      await predictors[kind]?.model.then((m) => m.dispose(), () => undefined);
      predictors[kind] = undefined;
    }
    // The GPU backends not chosen keep memory pools the probe filled: let them go. Nothing else needs them now.
    for (const loser of ['webgpu', 'webgl'] as const) {
      try {
        if (loser !== report.backend && loser in tf.engine().registry) tf.removeBackend(loser);
      } catch {
        // Keeping a backend costs memory, not correctness.
      }
    }
    post({ type: 'backend', report });
    return report;
  })();
  settled = attempt.settling;
  return settled;
}

/**
 * With `"batchSize": "auto"`: the batch for this job's examples on the settled backend, measured once per
 * worker for each backend, model, range and example count, and remembered per device too. The CPU and
 * wasm backends are not measured (their time a step grows with the batch): the range's smallest.
 */
const batches = new Map<string, Promise<number>>();

async function batchFor(job: TrainJob, report: BackendReport, range: [number, number]): Promise<number> {
  if (report.backend === 'cpu' || report.backend === 'wasm') {
    const key = `${report.backend}|${range.join('-')}`;
    if (!batches.has(key)) {
      batches.set(key, Promise.resolve(range[0]));
      post({ type: 'backend', report: { ...report, batch: { size: range[0], range, chosenBy: 'unmeasured', measurements: [] } } });
    }
    return range[0];
  }
  const subject = await subjectOf(job);
  const key = `${await choiceKey(await deviceName(), subject.artifacts.modelTopology, 0)}|auto ${range.join('-')}|${report.backend}|${job.count} examples`;
  let chosen = batches.get(key);
  if (!chosen) {
    chosen = (async () => {
      const memory = indexedDbMemory();
      const remembered = await memory.recall(key).catch(() => undefined);
      const measurements = remembered?.measurements ?? (await measureBatches(report.backend, subject, range, job.count));
      if (!remembered) await memory.remember(key, { backend: report.backend, measurements, measuredAt: Date.now(), probeMs: 0 }).catch(() => undefined);
      const size = Math.min(range[1], Math.max(range[0], Math.round(chooseBatch(measurements, job.count) ?? job.config.batchSize)));
      post({ type: 'backend', report: { ...report, batch: { size, range, chosenBy: remembered ? 'remembered' : 'probe', measurements } } });
      return size;
    })();
    batches.set(key, chosen);
    chosen.catch(() => batches.delete(key));
  }
  return chosen;
}

/** What tells this device from another for the probe's memory: the browser and, where there is one, the GPU adapter. */
let device: Promise<string> | undefined;
function deviceName(): Promise<string> {
  device ??= (async () => {
    const gpu = (self.navigator as unknown as { gpu?: { requestAdapter(): Promise<{ info?: { vendor?: string; architecture?: string; description?: string } } | null> } }).gpu;
    const info = (await gpu?.requestAdapter().catch(() => null))?.info;
    return [self.navigator.userAgent, info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' | ');
  })();
  return device;
}

/** Predictions running now: the first job's probe waits for them, and they wait for a probe under way. */
const predicting = new Set<Promise<void>>();

function predict(jobId: number, job: PredictJob): Promise<void> {
  const running = predictNow(jobId, job);
  predicting.add(running);
  void running.finally(() => predicting.delete(running));
  return running;
}

async function predictNow(jobId: number, job: PredictJob): Promise<void> {
  try {
    // Before the first training job, on the backend at start (the probe needs a job's batch); during it, after it.
    await (settled ?? (backend ??= chooseBackend()));
    const model = await predictorFor(job.weights ? 'personal' : 'shared', job.modelUrl, job.model);
    if (job.weights) writeWeights(model, new Float32Array(job.weights));
    const out = tf.tidy(() => model.predict(tf.tensor(new Float32Array(job.features), [job.count, ...job.inputShape])) as tf.Tensor2D);
    const probabilities = (await out.data<'float32'>()).slice();
    const classes = out.shape[1];
    out.dispose();
    post({ type: 'predicted', jobId, probabilities: probabilities.buffer as ArrayBuffer, classes }, [probabilities.buffer as ArrayBuffer]);
  } catch (e) {
    post({ type: 'failed', jobId, message: errorMessage(e), aborted: false });
  }
}

const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e));
