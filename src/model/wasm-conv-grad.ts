/**
 * The one kernel TF.js 4.22's wasm backend lacks for training convolutions: Conv2DBackpropFilter (the
 * gradient of a convolution with respect to its filter). Its forward convolution, the gradient with respect
 * to the input, pooling and the rest run in WebAssembly (XNNPACK); with this kernel registered, a CNN trains
 * on the wasm backend instead of the pure-JS CPU backend, whose convolutions are what make it slow.
 *
 * dW[r][c][i][o] = Σ_b Σ_y Σ_x  in[b][y·s + r − pad][x·s + c − pad][i] · dy[b][y][x][o]   (NHWC, no dilation)
 *
 * It walks the output positions in memory order and accumulates into dW, so each inner loop runs over
 * contiguous channels. Node only (the simulator); checked against the CPU backend's kernel in the tests.
 */
import * as tf from '@tensorflow/tfjs';

interface WasmBackend {
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

export function registerWasmConvFilterGradient(): void {
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm')) return;
  tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc: conv2dBackpropFilter as unknown as tf.KernelFunc });
}

function conv2dBackpropFilter(args: { inputs: { x: tf.TensorInfo; dy: tf.TensorInfo }; backend: WasmBackend; attrs: Record<string, unknown> }): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
  const format = tf.backend_util.convertConv2DDataFormat(attrs.dataFormat as 'NHWC' | 'NCHW');
  if (format !== 'channelsLast') throw new Error('Conv2DBackpropFilter on wasm: only NHWC (channels last) is supported');
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape as [number, number, number, number],
    attrs.strides as [number, number] | number,
    1,
    attrs.pad as 'valid' | 'same' | number,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    false,
    format,
  );
  const xs = backend.typedArrayFromHeap(x);
  const dys = backend.typedArrayFromHeap(dy);
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth, strideHeight, strideWidth } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const dW = new Float32Array(filterHeight * filterWidth * inChannels * outChannels);
  for (let b = 0; b < batchSize; b++) {
    for (let yR = 0; yR < outHeight; yR++) {
      for (let yC = 0; yC < outWidth; yC++) {
        const dyAt = ((b * outHeight + yR) * outWidth + yC) * outChannels;
        for (let wR = 0; wR < filterHeight; wR++) {
          const xR = yR * strideHeight + wR - top;
          if (xR < 0 || xR >= inHeight) continue;
          for (let wC = 0; wC < filterWidth; wC++) {
            const xC = yC * strideWidth + wC - left;
            if (xC < 0 || xC >= inWidth) continue;
            const xAt = ((b * inHeight + xR) * inWidth + xC) * inChannels;
            const wAt = (wR * filterWidth + wC) * inChannels * outChannels;
            for (let i = 0; i < inChannels; i++) {
              const xv = xs[xAt + i]!;
              if (xv === 0) continue;
              const row = wAt + i * outChannels;
              for (let o = 0; o < outChannels; o++) dW[row + o]! += xv * dys[dyAt + o]!;
            }
          }
        }
      }
    }
  }
  const out = backend.makeOutput(info.filterShape as number[], 'float32');
  backend.typedArrayFromHeap(out).set(dW);
  return out;
}
