import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, describe, expect, it } from 'vitest';
import { createRng } from '../core/rng.ts';
import { registerWasmConvFilterGradient } from './wasm-conv-grad.ts';

registerWasmConvFilterGradient();

/** The gradient of sum(conv(x, w) · g) with respect to w, on `backend`. */
async function filterGradient(backend: string, xShape: number[], wShape: number[], strides: number, pad: 'same' | 'valid', seed: number): Promise<number[]> {
  await tf.setBackend(backend);
  const rng = createRng(seed);
  const x = tf.tensor4d(Array.from({ length: xShape.reduce((a, b) => a * b, 1) }, () => rng() - 0.5), xShape as [number, number, number, number]);
  const w = tf.tensor4d(Array.from({ length: wShape.reduce((a, b) => a * b, 1) }, () => rng() - 0.5), wShape as [number, number, number, number]);
  const outShape = tf.conv2d(x, w, strides, pad).shape;
  const g = tf.tensor(Array.from({ length: outShape.reduce((a, b) => a * b, 1) }, () => rng() - 0.5), outShape);
  const grad = tf.grad((filter: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x, filter as tf.Tensor4D, strides, pad), g)))(w);
  const values = [...(await grad.data())];
  tf.dispose([x, w, g, grad]);
  return values;
}

afterAll(() => tf.setBackend('cpu'));

describe('the wasm backend\'s Conv2DBackpropFilter', () => {
  it.each([
    ['digits CNN first layer (valid)', [3, 12, 12, 1], [5, 5, 1, 8], 1, 'valid'],
    ['second layer, more channels', [2, 6, 6, 8], [5, 5, 8, 16], 1, 'valid'],
    ['same padding, stride 2', [2, 9, 7, 3], [3, 3, 3, 4], 2, 'same'],
  ] as const)('matches the CPU backend\'s kernel: %s', async (_name, xShape, wShape, strides, pad) => {
    const reference = await filterGradient('cpu', [...xShape], [...wShape], strides, pad, 7);
    const wasm = await filterGradient('wasm', [...xShape], [...wShape], strides, pad, 7);
    expect(tf.getBackend()).toBe('wasm');
    expect(wasm.length).toBe(reference.length);
    wasm.forEach((v, i) => expect(v).toBeCloseTo(reference[i]!, 4));
  });
});
