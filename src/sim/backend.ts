/**
 * The simulator's TF.js backend: wasm (WebAssembly, XNNPACK) for every model, with the convolution filter
 * gradient it lacks supplied by src/model/wasm-conv-grad.ts, or the pure-JS cpu backend when asked.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmConvFilterGradient } from '../model/wasm-conv-grad.ts';

export async function useBackend(name: string): Promise<void> {
  tf.env().set('PROD', true);
  registerWasmConvFilterGradient();
  if (!(await tf.setBackend(name))) throw new Error(`TF.js backend "${name}" is not available`);
  await tf.ready();
}
