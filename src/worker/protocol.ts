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
}

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
