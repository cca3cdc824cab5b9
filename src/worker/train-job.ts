/**
 * One training job as the trainer worker runs it, without the worker's messaging, so that Node tests run the
 * very same steps: load the round's model, evaluate it on the held-out examples, fine-tune a personal copy
 * when the task asks, train, and answer with the delta. Everything it creates is disposed before it returns.
 */
import * as tf from '@tensorflow/tfjs';
import { subtractWeights } from '../core/vector.ts';
import type { HeldOutEvaluation, TrainJob } from './protocol.ts';
import { evaluate, personalize, readWeights, trainLocally, writeWeights, type ExampleBatch, type TrainOptions } from '../model/tf-model.ts';

export interface JobResult {
  delta: Float32Array;
  loss: number;
  accuracy: number;
  numExamples: number;
  trainMs: number;
  evaluation?: HeldOutEvaluation;
  personalWeights?: Float32Array;
}

export async function runTrainJob(job: TrainJob, signal: AbortSignal, onProgress?: TrainOptions['onProgress']): Promise<JobResult> {
  const model = await tf.loadLayersModel(job.model ? fromMemory(job.model) : job.modelUrl);
  try {
    const global = await readWeights(model);
    // Federated evaluation first: the model as received, on examples it will never train on.
    const train = unpack(job, job);
    const heldOut = job.heldOut && job.heldOut.count > 0 ? unpack(job, job.heldOut) : undefined;
    let evaluation = heldOut ? await evaluateOn(model, heldOut, job) : undefined;
    let personalWeights: Float32Array | undefined;
    if (job.config.personalization) {
      // A personal copy: fine-tuned from the received model, kept on the device; then back to the global one.
      personalWeights = (await personalize(model, train, job.config, { inputShape: job.inputShape, numClasses: job.numClasses, signal })).weights;
      if (evaluation && heldOut) evaluation = { ...evaluation, personalAccuracy: (await evaluateOn(model, heldOut, job)).accuracy };
      writeWeights(model, global);
    }
    const result = await trainLocally(model, train, job.config, { inputShape: job.inputShape, numClasses: job.numClasses, signal, ...(job.lossEvery ? { lossEvery: job.lossEvery } : {}), ...(onProgress ? { onProgress } : {}) });
    return {
      delta: subtractWeights(result.weights, global),
      loss: result.loss,
      accuracy: result.accuracy,
      numExamples: result.numExamples,
      trainMs: result.trainMs,
      ...(evaluation ? { evaluation } : {}),
      ...(personalWeights ? { personalWeights } : {}),
    };
  } finally {
    model.dispose();
  }
}

/** A model the page holds (topology, weight specs, weights) as TF.js loads it. */
export const fromMemory = (m: NonNullable<TrainJob['model']>): tf.io.IOHandler => tf.io.fromMemory(heldArtifacts(m));

/** The same model as TF.js's artifacts (the probe loads one copy per backend from them). */
export const heldArtifacts = (m: NonNullable<TrainJob['model']>): tf.io.ModelArtifacts => ({ modelTopology: m.topology, weightSpecs: m.weightSpecs as tf.io.WeightsManifestEntry[], weightData: m.weights });

/** Examples as the model takes them: stored features (uint8 or float32) scaled to floats, labels as int32. */
function unpack(job: TrainJob, part: { features: ArrayBuffer; labels: ArrayBuffer; count: number }): ExampleBatch {
  const features = new Float32Array(part.count * job.inputShape.reduce((a, b) => a * b, 1));
  const raw = job.dtype === 'float32' ? new Float32Array(part.features) : new Uint8Array(part.features);
  for (let i = 0; i < features.length; i++) features[i] = raw[i]! * job.featureScale;
  return { features, labels: Int32Array.from(new Uint8Array(part.labels)), count: part.count };
}

async function evaluateOn(model: tf.LayersModel, heldOut: ExampleBatch, job: TrainJob): Promise<HeldOutEvaluation> {
  const { accuracy, loss } = await evaluate(model, heldOut, job.inputShape);
  return { accuracy, loss: Math.min(loss, 1e4), count: heldOut.count };
}
