/**
 * Model architectures a task file can name (`"model": {"builtin": …}`), and loading a TF.js layers model
 * (model.json + weight files, such as tfjs-converter makes from Keras) from disk.
 */
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export type ModelSource =
  | { builtin: 'digits-cnn' }
  | { builtin: 'mlp'; hidden: number[] }
  | { layersModel: string };

/** Builds the model for `source` with `inputShape` and `classes` outputs; weights seeded where built in. */
export async function buildModel(source: ModelSource, inputShape: number[], classes: number, seed: number): Promise<tf.LayersModel> {
  const init = (offset: number) => tf.initializers.glorotUniform({ seed: seed + offset });
  if ('layersModel' in source) return loadLayersModelFile(source.layersModel);
  if (source.builtin === 'digits-cnn') {
    // A small CNN (≈ 21 k parameters for 28×28×1): two conv/pool blocks, one hidden dense layer.
    return tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape, filters: 8, kernelSize: 5, activation: 'relu', kernelInitializer: init(1) }),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        tf.layers.conv2d({ filters: 16, kernelSize: 5, activation: 'relu', kernelInitializer: init(2) }),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 64, activation: 'relu', kernelInitializer: init(3) }),
        tf.layers.dense({ units: classes, activation: 'softmax', kernelInitializer: init(4) }),
      ],
    });
  }
  // An image is flattened first (the FedAvg paper's 2NN is mlp:200,200 on 28×28 digits).
  const flatten = inputShape.length > 1 ? [tf.layers.flatten({ inputShape })] : [];
  const first = flatten.length === 0 ? { inputShape } : {};
  const hidden = source.hidden.map((units, i) => tf.layers.dense({ units, activation: 'relu', kernelInitializer: init(i + 1), ...(i === 0 ? first : {}) }));
  const output = tf.layers.dense({ units: classes, activation: 'softmax', kernelInitializer: init(99), ...(hidden.length === 0 ? first : {}) });
  return tf.sequential({ layers: [...flatten, ...hidden, output] });
}

/** Loads `model.json` and the weight files its manifest names, from disk (tfjs-node's file:// without tfjs-node). */
export async function loadLayersModelFile(modelJsonPath: string): Promise<tf.LayersModel> {
  let json: { modelTopology?: object; weightsManifest?: tf.io.WeightsManifestConfig };
  try {
    json = JSON.parse(readFileSync(modelJsonPath, 'utf8')) as typeof json;
  } catch (e) {
    // Not the parser's message: it quotes the file, which need not be a model at all.
    throw new Error(`${modelJsonPath} is not readable JSON${e instanceof SyntaxError ? '' : ` (${(e as NodeJS.ErrnoException).code ?? 'unreadable'})`}`, { cause: e });
  }
  if (!json.modelTopology || !Array.isArray(json.weightsManifest)) throw new Error(`${modelJsonPath} is not a TF.js layers model (no modelTopology or weightsManifest)`);
  const weightSpecs = json.weightsManifest.flatMap((group) => group.weights);
  // Weight files sit beside model.json, as the converter writes them: a manifest cannot name any other file.
  const beside = (p: string) => {
    if (typeof p !== 'string' || basename(p) !== p || p === '..' || p === '.') throw new Error(`${modelJsonPath} names a weight file outside its folder ("${String(p).slice(0, 40)}")`);
    return join(dirname(modelJsonPath), p);
  };
  const buffers = json.weightsManifest.flatMap((group) => group.paths.map((p) => readFileSync(beside(p))));
  const total = buffers.reduce((n, b) => n + b.byteLength, 0);
  const weightData = new Uint8Array(total);
  let offset = 0;
  for (const b of buffers) {
    weightData.set(b, offset);
    offset += b.byteLength;
  }
  return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs, weightData: weightData.buffer }));
}
