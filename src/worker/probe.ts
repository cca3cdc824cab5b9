/**
 * The backend probe: a few real training steps of the task's own model on each TF.js backend that works
 * here, timed, and a check of each GPU backend's gradients against the CPU backend's on a small reference
 * model. The fastest backend whose gradients agree wins. No DOM and no worker globals: Node tests run it on
 * backends of their own.
 *
 * Why measure rather than rank: WebGPU is not always the fastest. On a software adapter (SwiftShader) it
 * trains the digits CNN about 7× slower than WebGL on the same machine, TF.js issue #8156 reports a CNN at
 * 2/3 of WebGL's speed on some integrated GPUs, and for a small dense model the CPU can come close.
 */
import * as tf from '@tensorflow/tfjs';
import type { TrainingConfig } from '../core/protocol.ts';
import { trainLocally } from '../model/tf-model.ts';
import type { BackendMeasurement, BackendName } from './protocol.ts';

/** What is probed: the task's model (its architecture; the weights do not matter) and the round's batch. */
export interface ProbeSubject {
  artifacts: tf.io.ModelArtifacts;
  inputShape: readonly number[];
  numClasses: number;
  batchSize: number;
}

export interface ProbeOptions {
  /** Time for each backend's timed steps, after its warm-up and estimate steps. Default 300 ms. */
  budgetMs?: number;
  /**
   * Gradients differing from the CPU backend's by more than this (relative to the largest) disqualify a
   * backend. Default 1e-2: loose enough for WebGL computing in float16 where float32 rendering is missing
   * (older mobile GPUs), tight enough for the zero gradients of TF.js issue #8590 (an error of 1).
   */
  gradientTolerance?: number;
}

/**
 * Times training steps of `subject` on `backend`: one warm-up step (shader compilation, uploads), one step
 * to estimate a step's time, then three timings of as many steps as fit a third of `budgetMs` each (at least
 * one, at most 32), each read back once at its end as training does. The quickest of the three counts, so a
 * moment of load from elsewhere (another tab, the GPU process serving another page) does not decide a
 * choice that is remembered for a month.
 */
export async function measureTraining(backend: BackendName, subject: ProbeSubject, budgetMs = 300): Promise<BackendMeasurement> {
  if (!(await tf.setBackend(backend))) return { backend, reason: `TF.js could not initialise the ${backend} backend` };
  const batch = subject.batchSize;
  const model = await tf.loadLayersModel(tf.io.fromMemory(subject.artifacts));
  const config: TrainingConfig = { epochs: 1, batchSize: batch, learningRate: 1e-3, optimizer: 'sgd', codec: 'f32' };
  const features = subject.inputShape.reduce((a, b) => a * b, 1);
  const examples = (steps: number) => ({
    features: Float32Array.from({ length: steps * batch * features }, () => Math.random()),
    labels: Int32Array.from({ length: steps * batch }, (_, i) => i % subject.numClasses),
    count: steps * batch,
  });
  const opts = { inputShape: subject.inputShape, numClasses: subject.numClasses, seed: 1 };
  try {
    const warmup = await trainLocally(model, examples(1), config, opts);
    const estimate = await trainLocally(model, examples(1), config, opts);
    const steps = Math.max(1, Math.min(32, Math.round(budgetMs / 3 / Math.max(estimate.trainMs, 0.1))));
    let msPerStep = Number.POSITIVE_INFINITY;
    for (let timing = 0; timing < 3; timing++) {
      const timed = await trainLocally(model, examples(steps), config, { ...opts, lossEvery: steps });
      msPerStep = Math.min(msPerStep, timed.trainMs / steps);
    }
    return { backend, samplesPerSecond: (batch * 1000) / msPerStep, msPerStep, batchSize: batch, warmupMs: warmup.trainMs };
  } catch (e) {
    return { backend, reason: `training failed on ${backend}: ${e instanceof Error ? e.message : String(e)}` };
  } finally {
    model.dispose();
  }
}

/**
 * The largest difference between the gradients `backend` computes for a small CNN (convolution, pooling,
 * dense layers and the softmax cross-entropy, as the shipped models use) and those the CPU backend computes,
 * relative to the largest CPU gradient. TF.js has shipped WebGPU kernels that returned zero gradients
 * (issue #8590): such a backend would "train" and change nothing.
 */
export async function gradientError(backend: BackendName): Promise<number> {
  const reference = await referenceGradients('cpu');
  const measured = await referenceGradients(backend);
  let largest = 0, worst = 0;
  reference.forEach((g, i) => {
    largest = Math.max(largest, Math.abs(g));
    worst = Math.max(worst, Math.abs(g - (measured[i] ?? Number.NaN)));
  });
  return Number.isFinite(worst) ? worst / Math.max(largest, 1e-12) : Number.POSITIVE_INFINITY;
}

async function referenceGradients(backend: BackendName): Promise<Float32Array> {
  if (!(await tf.setBackend(backend))) throw new Error(`TF.js could not initialise the ${backend} backend`);
  // Fixed weights and inputs (no random initialiser), so both backends start from the same numbers. Layers
  // copy the weights they are given and never dispose them: they are made here and disposed below.
  const wave = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * k + 0.3) * 0.5);
  const initial = [
    [tf.tensor4d(wave(27, 1.7), [3, 3, 1, 3]), tf.tensor1d([0.05, -0.02, 0.01])],
    [tf.tensor2d(wave(108, 0.9), [27, 4]), tf.tensor1d([0.1, 0, -0.1, 0.05])],
    [tf.tensor2d(wave(12, 2.3), [4, 3]), tf.tensor1d([0, 0.1, -0.1])],
  ];
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 3, kernelSize: 3, activation: 'relu', weights: initial[0] }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 4, activation: 'relu', weights: initial[1] }),
      tf.layers.dense({ units: 3, activation: 'softmax', weights: initial[2] }),
    ],
  });
  tf.dispose(initial.flat());
  const x = tf.tensor4d(wave(4 * 64, 0.37).map((v) => v + 0.5), [4, 8, 8, 1]);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d([0, 1, 2, 1], 'int32'), 3));
  try {
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const { value, grads } = tf.variableGrads(() => tf.mean(tf.neg(tf.sum(tf.mul(y, tf.log(tf.clipByValue(model.apply(x) as tf.Tensor, 1e-7, 1))), 1))) as tf.Scalar, variables);
    const parts = await Promise.all(variables.map((v) => grads[v.name]!.data<'float32'>()));
    tf.dispose([value, ...Object.values(grads)]);
    const flat = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      flat.set(p, at);
      at += p.length;
    }
    return flat;
  } finally {
    tf.dispose([x, y]);
    model.dispose();
  }
}

/**
 * Measures every candidate and returns the measurements with the winner: the most samples a second among
 * those that trained and whose gradients agree with the CPU backend's. The CPU backend is the reference
 * and is not checked against itself. Leaves TF.js on the winner.
 */
export async function probeBackends(candidates: readonly BackendName[], subject: ProbeSubject, options: ProbeOptions = {}): Promise<{ backend: BackendName; measurements: BackendMeasurement[] }> {
  const tolerance = options.gradientTolerance ?? GRADIENT_TOLERANCE;
  const measurements: BackendMeasurement[] = [];
  for (const backend of candidates) {
    let m = await measureTraining(backend, subject, options.budgetMs);
    if (m.reason === undefined && backend !== 'cpu' && candidates.includes('cpu')) {
      const error = await gradientError(backend).catch(() => Number.POSITIVE_INFINITY);
      m = { ...m, gradientError: error };
      if (!(error <= tolerance)) m = { ...m, reason: gradientReason(error, tolerance) };
    }
    measurements.push(m);
  }
  const winner = fastest(measurements);
  if (!winner) throw new Error(`no backend could train the model: ${measurements.map((m) => m.reason).join('; ')}`);
  await tf.setBackend(winner);
  return { backend: winner, measurements };
}

/** The usable measurement with the most samples a second. */
export function fastest(measurements: readonly BackendMeasurement[]): BackendName | undefined {
  let best: BackendMeasurement | undefined;
  for (const m of measurements) {
    if (m.reason !== undefined || m.samplesPerSecond === undefined) continue;
    if (!best || m.samplesPerSecond > best.samplesPerSecond!) best = m;
  }
  return best?.backend;
}

export const GRADIENT_TOLERANCE = 1e-2;

/** Why a backend's gradients disqualify it. */
export const gradientReason = (error: number, tolerance = GRADIENT_TOLERANCE) => `its gradients differ from the CPU backend's by ${formatError(error)} of the largest (tolerance ${formatError(tolerance)})`;

export const formatError = (e: number) => (Number.isFinite(e) ? e.toExponential(1) : 'all');

/** The batches timed for a range, up to `count` examples: each power of two within it, and its ends. */
export function batchCandidates([min, max]: readonly [number, number], count = Number.POSITIVE_INFINITY): number[] {
  const top = Math.max(min, Math.min(max, count));
  const out = new Set<number>([min, top]);
  for (let b = 1; b <= top; b *= 2) if (b > min) out.add(b);
  return [...out].sort((a, b) => a - b);
}

/**
 * The batch to train `count` examples with: the smallest whose epoch, ⌈count / B⌉ steps at the measured
 * time a step, takes at most 10 % longer than the quickest. A smaller batch takes more steps an epoch, which
 * learns more per round (`npm run sim:batch`), so a larger one is taken only for the time it saves: on a GPU
 * that dispatches a step in about the same time at any batch, the largest (up to all the examples); where
 * the time a step grows with the batch, the smallest.
 */
export function chooseBatch(measurements: readonly BackendMeasurement[], count: number): number | undefined {
  const epochMs = (m: BackendMeasurement) => Math.ceil(count / m.batchSize!) * m.msPerStep!;
  const usable = measurements.filter((m) => m.reason === undefined && isPositive(m.msPerStep) && Number.isInteger(m.batchSize) && m.batchSize! > 0);
  const quickest = Math.min(...usable.map(epochMs));
  return usable.filter((m) => epochMs(m) <= 1.1 * quickest).sort((a, b) => a.batchSize! - b.batchSize!)[0]?.batchSize;
}

const isPositive = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x > 0;

/** Times `subject` on the current backend at each candidate batch of `range` up to `count` (`budgetMs` each, after a warm-up). */
export async function measureBatches(backend: BackendName, subject: ProbeSubject, range: readonly [number, number], count: number, budgetMs = 150): Promise<BackendMeasurement[]> {
  const out: BackendMeasurement[] = [];
  for (const batchSize of batchCandidates(range, count)) out.push(await measureTraining(backend, { ...subject, batchSize }, budgetMs));
  return out;
}
