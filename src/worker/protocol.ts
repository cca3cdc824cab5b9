/**
 * Messages between the page (client/worker-bridge.ts) and the trainer worker. Types only. Weights and
 * examples travel as transferable ArrayBuffers, never as JSON number arrays.
 */
import type { TrainingConfig } from '../core/protocol.ts';

export type BackendName = 'webgpu' | 'webgl' | 'cpu' | 'wasm';
export const BACKEND_NAMES: readonly BackendName[] = ['webgpu', 'webgl', 'cpu', 'wasm'];

/** The backend the worker trains on, and why each better one was passed over. */
export interface BackendReport {
  backend: BackendName;
  /** Adapter or renderer description, when the browser tells it. */
  detail?: string;
  fallbacks: { backend: BackendName; reason: string }[];
  /** How `backend` was chosen for the task's model; absent until the first job brings a model (see worker/backend.ts). */
  probe?: BackendProbe;
  /** With `"batchSize": "auto"`: the batch this device trains with, and the timings it was chosen from (worker/probe.ts `chooseBatch`). */
  batch?: { size: number; range: [number, number]; chosenBy: 'probe' | 'remembered' | 'unmeasured'; measurements: BackendMeasurement[] };
}

/** One backend timed on real training steps of the task's model (worker/probe.ts). */
export interface BackendMeasurement {
  backend: BackendName;
  samplesPerSecond?: number;
  msPerStep?: number;
  /** The batch it was timed on: the round's, or each candidate when a batch is chosen (`"batchSize": "auto"`). */
  batchSize?: number;
  /** The first step: shader compilation and uploads. */
  warmupMs?: number;
  /** Largest difference from the CPU backend's gradients on a reference model, relative to the largest. */
  gradientError?: number;
  /** Why it is not used; absent when it is usable. */
  reason?: string;
}

export interface BackendProbe {
  /** `probe`: measured now; `remembered`: measured before on this device for this model; `forced`: `?backend=`; `only`: the one backend that works. */
  chosenBy: 'probe' | 'remembered' | 'forced' | 'only';
  measurements: BackendMeasurement[];
  /** When it was measured (ms since the epoch), and how long the whole probe took. */
  measuredAt: number;
  probeMs: number;
}

/** Where the worker remembers its choice, per device and model (worker/backend-memory.ts). Deleted with the rest of a person's data. */
export const BACKEND_DB = 'covey-backends';

export interface TrainJob {
  /** Absolute URL of the global model's model.json: loaded from there unless `model` is given. */
  modelUrl: string;
  /** The model itself, as the page holds it (client/model-download.ts): topology, weight specs and float32 weights. */
  model?: { topology: object; weightSpecs: object[]; weights: ArrayBuffer };
  config: TrainingConfig;
  inputShape: number[];
  numClasses: number;
  /** Examples as stored: `count × prod(inputShape)` features of `dtype`, multiplied by `featureScale` in the worker. */
  features: ArrayBuffer;
  dtype: 'uint8' | 'float32';
  labels: ArrayBuffer;
  count: number;
  featureScale: number;
  /** Steps between reads of the loss from the device (model/tf-model.ts `LOSS_EVERY` when absent); the benchmark sets 1 to time reading every step. */
  lossEvery?: number;
  /** The client's held-out examples, in the same form: the received model is evaluated on them before training. */
  heldOut?: { features: ArrayBuffer; labels: ArrayBuffer; count: number };
}

/** How the received model did on the held-out examples (federated evaluation). */
export interface HeldOutEvaluation {
  accuracy: number;
  loss: number;
  count: number;
  /** With personalization: the personal model's accuracy on the same examples. */
  personalAccuracy?: number;
}

/** Class probabilities for some examples under a model: what the app shows for a drawn digit. */
export interface PredictJob {
  /** The model's URL: what it is cached by, and where it is loaded from unless `model` is given. */
  modelUrl: string;
  /** The model itself, as the page holds it (see TrainJob.model). */
  model?: TrainJob['model'];
  inputShape: number[];
  /** `count × prod(inputShape)` float32 features, already scaled as the model takes them. */
  features: ArrayBuffer;
  count: number;
  /** A personal model's weights (float32, the model's layout) to predict with instead of the model's own. */
  weights?: ArrayBuffer;
}

export type WorkerRequest =
  | { type: 'init'; preferredBackend?: BackendName }
  | { type: 'train'; jobId: number; job: TrainJob }
  | { type: 'predict'; jobId: number; job: PredictJob }
  | { type: 'cancel'; jobId: number };

export type WorkerResponse =
  | { type: 'ready'; report: BackendReport }
  /** The backend settled for the task's model at the first job (probed, remembered or forced). */
  | { type: 'backend'; report: BackendReport }
  | { type: 'progress'; jobId: number; epoch: number; epochs: number; batch: number; batchesPerEpoch: number; loss: number }
  | {
      type: 'trained';
      jobId: number;
      /** Float32 little-endian: local weights minus the global weights it started from (`model`, or loaded from `modelUrl`). */
      delta: ArrayBuffer;
      loss: number;
      accuracy: number;
      numExamples: number;
      trainMs: number;
      backend: BackendName;
      evaluation?: HeldOutEvaluation;
      /** With personalization: the personal model's weights (float32, the global model's layout), never uploaded. */
      personalWeights?: ArrayBuffer;
    }
  | {
      type: 'predicted';
      jobId: number;
      /** Float32, `count × classes`: each example's class probabilities. */
      probabilities: ArrayBuffer;
      classes: number;
    }
  | { type: 'failed'; jobId: number | null; message: string; aborted: boolean };
