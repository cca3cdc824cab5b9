/**
 * TF.js model plumbing shared by the browser trainer, the Node simulator and the coordinator's evaluator:
 * flat weight vectors in and out of a layers model, the layers-format artifacts, local training and
 * evaluation. No DOM, no worker globals: it runs wherever TF.js runs.
 */
import * as tf from '@tensorflow/tfjs';
import { asWeights, type Weights } from '../core/ids.ts';
import { f1Score, rocAuc } from '../core/metrics.ts';
import type { TrainingConfig } from '../core/protocol.ts';
import { createRng as createSeededRandom } from '../core/rng.ts';

/** The layers-format description of a model, without its weight values. */
export interface ModelSpec {
  modelTopology: object;
  weightSpecs: tf.io.WeightsManifestEntry[];
}

/** All trainable and non-trainable weights, concatenated in the order of the model's weight manifest. */
export async function readWeights(model: tf.LayersModel): Promise<Weights> {
  const values = await Promise.all(model.getWeights().map((t) => t.data<'float32'>()));
  const flat = new Float32Array(values.reduce((n, v) => n + v.length, 0));
  let offset = 0;
  for (const v of values) {
    flat.set(v, offset);
    offset += v.length;
  }
  return asWeights(flat);
}

export function writeWeights(model: tf.LayersModel, flat: Float32Array): void {
  const current = model.getWeights();
  const expected = current.reduce((n, t) => n + t.size, 0);
  if (flat.length !== expected) throw new RangeError(`model has ${expected} parameters, vector ${flat.length}`);
  let offset = 0;
  const next = current.map((t) => {
    const slice = flat.subarray(offset, offset + t.size);
    offset += t.size;
    return tf.tensor(slice, t.shape, 'float32');
  });
  model.setWeights(next);
  tf.dispose(next);
}

export async function describeModel(model: tf.LayersModel): Promise<ModelSpec> {
  let spec: ModelSpec | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      spec = { modelTopology: artifacts.modelTopology as object, weightSpecs: artifacts.weightSpecs ?? [] };
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (!spec) throw new Error('model.save produced no artifacts');
  return spec;
}

export async function modelFromSpec(spec: ModelSpec, weights: Float32Array): Promise<tf.LayersModel> {
  const data = weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer;
  return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: spec.modelTopology, weightSpecs: spec.weightSpecs, weightData: data }));
}

/** Examples as the model takes them: `features` row-major, `count × prod(inputShape)`. */
export interface ExampleBatch {
  features: Float32Array;
  labels: Int32Array;
  count: number;
}

export interface TrainProgress {
  epoch: number;
  epochs: number;
  /** Steps done in this epoch: counted on the CPU, so every step reports without waiting on the device. */
  batch: number;
  batchesPerEpoch: number;
  /** The epoch's mean loss so far as of the last read from the device: after each epoch's first step, every `lossEvery` steps, and at its end. */
  loss: number;
}

export interface TrainResult {
  weights: Weights;
  /** Mean loss and accuracy over the last epoch. */
  loss: number;
  accuracy: number;
  numExamples: number;
  trainMs: number;
}

/** Steps between reads of the loss from the device when the caller does not say: see `TrainOptions.lossEvery`. */
export const LOSS_EVERY = 16;

export interface TrainOptions {
  inputShape: readonly number[];
  numClasses: number;
  onProgress?: (p: TrainProgress) => void;
  /** Checked before every step: training stops within a step of its abort being seen (see `trainLocally`). */
  signal?: AbortSignal;
  /** Seed for the order of examples in each epoch: the same seed, data and weights train the same model. Random when absent. */
  seed?: number;
  /**
   * Read the loss back from the device every this many steps (and at each epoch's end). A read waits for the
   * GPU to finish everything queued, a round trip that cost about 40 % of a step on a real GPU when done every
   * step (issue 14's measurement); in between, steps queue without waiting. 1 reads every step. Default 16.
   */
  lossEvery?: number;
}

/**
 * Trains `model` in place on `data` with the round's config and returns the new weights. Minibatch SGD or
 * Adam on the cross-entropy of the model's softmax output (each example weighted by its class's weight),
 * plus FedProx's proximal term μ/2·‖w − w_global‖² when `config.proximalMu` is set (Li et al. 2020): it
 * keeps a client near the model it was sent, which is what helps when clients' data differ. A full batch
 * (`batchSize` ≥ the examples) for one epoch with SGD is FedSGD's single gradient step.
 *
 * The loss and hits stay on the device, summed there, and are read back only after each epoch's first step,
 * every `lossEvery` steps, and at each epoch's end.
 * Between steps the loop yields to the event loop (a macrotask, not a timer: no 4 ms clamp), so a message
 * that aborts `signal`, such as the worker's cancel, is seen before the next step starts.
 */
export async function trainLocally(model: tf.LayersModel, data: ExampleBatch, config: TrainingConfig, opts: TrainOptions): Promise<TrainResult> {
  const started = performance.now();
  const optimizer = config.optimizer === 'adam' ? tf.train.adam(config.learningRate) : tf.train.sgd(config.learningRate);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const mu = config.proximalMu ?? 0;
  const anchors = mu > 0 ? variables.map((v) => tf.clone(v)) : [];
  const xs = tf.tensor(data.features, [data.count, ...opts.inputShape]);
  const ys = tf.tensor1d(data.labels, 'int32');
  const classWeights = tf.tensor1d(config.classWeights ?? new Array<number>(opts.numClasses).fill(1));
  const batchSize = Math.min(config.batchSize, data.count);
  const batchesPerEpoch = Math.ceil(data.count / batchSize);
  const lossEvery = Math.max(1, Math.floor(opts.lossEvery ?? LOSS_EVERY));
  const random = createSeededRandom(opts.seed ?? Math.floor(Math.random() * 2 ** 31));
  // Per epoch, on the device: Σ loss × batch size, and Σ correct predictions.
  let sums: [tf.Scalar, tf.Scalar] = [tf.scalar(0), tf.scalar(0)];
  let lossSum = 0, correct = 0, step = 0;
  try {
    for (let epoch = 0; epoch < config.epochs; epoch++) {
      const order = tf.tensor1d(permutation(data.count, random), 'int32');
      tf.dispose(sums);
      sums = [tf.scalar(0), tf.scalar(0)];
      let seen = 0, meanLoss = lossSum / Math.max(1, data.count);
      try {
        for (let batch = 0; batch < batchesPerEpoch; batch++) {
          await yieldToEventLoop();
          opts.signal?.throwIfAborted();
          const size = Math.min(batchSize, data.count - batch * batchSize);
          const next = tf.tidy(() => {
            const idx = order.slice(batch * batchSize, size);
            const x = tf.gather(xs, idx);
            const y = tf.gather(ys, idx);
            let hitCount: tf.Scalar | undefined;
            const cost = optimizer.minimize(() => {
              const probs = model.apply(x, { training: true }) as tf.Tensor2D;
              hitCount = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(probs, 1), y), 'float32'))) as tf.Scalar;
              const picked = tf.sum(tf.mul(probs, tf.oneHot(y, opts.numClasses)), 1);
              const perExample = tf.mul(tf.neg(tf.log(tf.clipByValue(picked, 1e-7, 1))), tf.gather(classWeights, y));
              const crossEntropy = tf.mean(perExample);
              if (mu === 0) return crossEntropy as tf.Scalar;
              const distance = tf.addN(variables.map((v, k) => tf.sum(tf.square(tf.sub(v, anchors[k]!)))));
              return tf.add(crossEntropy, tf.mul(mu / 2, distance)) as tf.Scalar;
            }, true, variables)!;
            const summed: [tf.Scalar, tf.Scalar] = [tf.add(sums[0], tf.mul(cost, size)), tf.add(sums[1], hitCount!)];
            hitCount!.dispose();
            return summed;
          });
          tf.dispose(sums);
          sums = next;
          seen += size;
          step++;
          if (batch === 0 || step % lossEvery === 0 || batch === batchesPerEpoch - 1) {
            const [l, c] = await Promise.all(sums.map((t) => t.data()));
            lossSum = l![0]!;
            correct = c![0]!;
            meanLoss = lossSum / seen;
          }
          opts.onProgress?.({ epoch, epochs: config.epochs, batch: batch + 1, batchesPerEpoch, loss: meanLoss });
        }
      } finally {
        order.dispose();
      }
    }
    return { weights: await readWeights(model), loss: lossSum / data.count, accuracy: correct / data.count, numExamples: data.count, trainMs: performance.now() - started };
  } finally {
    tf.dispose([xs, ys, classWeights, ...anchors, ...sums]);
    optimizer.dispose();
  }
}

/**
 * Resolves on the next turn of the event loop, after the messages waiting there: `setImmediate` in Node,
 * a MessageChannel in browsers and workers (a zero timeout would be clamped to 4 ms once nested).
 */
const setImmediateIfAny = (globalThis as { setImmediate?: (f: () => void) => unknown }).setImmediate;
export const yieldToEventLoop: () => Promise<void> =
  setImmediateIfAny
    ? () => new Promise<void>((resolve) => setImmediateIfAny(resolve))
    : (() => {
        const channel = new MessageChannel();
        const waiting: (() => void)[] = [];
        channel.port1.onmessage = () => waiting.shift()?.();
        return () =>
          new Promise<void>((resolve) => {
            waiting.push(resolve);
            channel.port2.postMessage(null);
          });
      })();

/**
 * Personalization by fine-tuning: trains `model` in place on `data` for the config's personalization epochs,
 * only its last K layers with weights (`last:K`) or all of them, without FedProx's pull towards the global
 * model (a personal model may drift from it). Layers' trainable flags are restored afterwards.
 */
export async function personalize(model: tf.LayersModel, data: ExampleBatch, config: TrainingConfig, opts: TrainOptions): Promise<TrainResult> {
  const p = config.personalization;
  if (!p) throw new Error('the round has no personalization config');
  const withWeights = model.layers.filter((l) => l.getWeights().length > 0);
  const tuned = p.layers === 'all' ? withWeights.length : Number(p.layers.slice('last:'.length));
  const frozen = withWeights.slice(0, Math.max(0, withWeights.length - tuned));
  const before = frozen.map((l) => l.trainable);
  for (const l of frozen) l.trainable = false;
  let result: TrainResult;
  try {
    result = await trainLocally(model, data, { ...config, epochs: p.epochs, proximalMu: 0 }, opts);
  } finally {
    frozen.forEach((l, i) => (l.trainable = before[i]!));
  }
  // Read again with every layer trainable: while some are frozen, TF.js lists the trainable weights first,
  // and a vector in that order would land in the wrong layers when written back.
  return { ...result, weights: await readWeights(model) };
}

/** A shuffled 0…n−1. */
function permutation(n: number, random: () => number): Int32Array {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

export interface Evaluation {
  loss: number;
  accuracy: number;
  /** ROC AUC and F1 of the second class, for two-class tasks. */
  auc?: number;
  f1?: number;
}

export async function evaluate(model: tf.LayersModel, data: ExampleBatch, inputShape: readonly number[]): Promise<Evaluation> {
  const probs = tf.tidy(() => model.predict(tf.tensor(data.features, [data.count, ...inputShape]), { batchSize: 256 }) as tf.Tensor2D);
  const classes = probs.shape[1];
  const p = await probs.data<'float32'>();
  probs.dispose();
  let loss = 0, correct = 0;
  const predicted = new Int32Array(data.count);
  for (let i = 0; i < data.count; i++) {
    const row = p.subarray(i * classes, (i + 1) * classes);
    let best = 0;
    for (let k = 1; k < classes; k++) if (row[k]! > row[best]!) best = k;
    predicted[i] = best;
    if (best === data.labels[i]) correct++;
    loss -= Math.log(row[data.labels[i]!]! + 1e-7);
  }
  const result: Evaluation = { loss: loss / data.count, accuracy: correct / data.count };
  if (classes === 2) {
    result.auc = rocAuc(Float32Array.from({ length: data.count }, (_, i) => p[i * 2 + 1]!), data.labels);
    result.f1 = f1Score(predicted, data.labels);
  }
  return result;
}

/** Scales uint8 pixels to [0, 1] floats, the digits task's normalisation. */
export function uint8ToUnitFloats(pixels: Uint8Array, out = new Float32Array(pixels.length)): Float32Array {
  for (let i = 0; i < pixels.length; i++) out[i] = pixels[i]! / 255;
  return out;
}
