/**
 * `npm run bench:gpu`: training throughput of the project's own models and training loop (`trainLocally`)
 * on TF.js's WebGPU backend in Node, through Dawn (Chromium's WebGPU engine) from the `webgpu` package,
 * against TF.js's CPU and wasm backends on the same machine. Samples a second and milliseconds a step per
 * model, batch and backend, reading the loss back every step (as before issue 14) and every 16 (after).
 *
 * The `webgpu` package is not a dependency (132 MB of native builds, and neither `npm ci` nor the tests need
 * it): install it for the run with `npm install --no-save webgpu@0.6.2`. Without a GPU, Dawn can use the
 * SwiftShader Vulkan driver that Debian's Chromium ships:
 *   LD_LIBRARY_PATH=/usr/lib/chromium VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json npm run bench:gpu
 * The adapter is printed with the table, so a SwiftShader number is never taken for a GPU's.
 *
 * Options (environment): BENCH_GPU_BACKENDS (webgpu,wasm,cpu), BENCH_GPU_MS (time per measurement, 1500),
 * BENCH_GPU_MODELS (some of digits-32, digits-128, fraud, 2nn, paper-10, paper-50; all by default).
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { buildModel } from '../src/model/models.ts';
import { LOSS_EVERY, trainLocally } from '../src/model/tf-model.ts';
import { registerWasmConvFilterGradient } from '../src/model/wasm-conv-grad.ts';

interface Case {
  key: string;
  model: string;
  build: () => Promise<tf.LayersModel>;
  inputShape: number[];
  batch: number;
}

/** The FedAvg paper's MNIST CNN (McMahan et al. 2017): 5×5 convolutions of 32 and 64 channels, each with 2×2 max pooling, a dense layer of 512, softmax; 1,663,370 parameters. */
const paperCnn = () =>
  tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 32, kernelSize: 5, padding: 'same', activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 64, kernelSize: 5, padding: 'same', activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 512, activation: 'relu' }),
      tf.layers.dense({ units: 10, activation: 'softmax' }),
    ],
  });

const CASES: Case[] = [
  { key: 'digits-32', model: 'digits CNN (shipped, 20.5 k)', build: () => buildModel({ builtin: 'digits-cnn' }, [28, 28, 1], 10, 1), inputShape: [28, 28, 1], batch: 32 },
  { key: 'digits-128', model: 'digits CNN (shipped, 20.5 k)', build: () => buildModel({ builtin: 'digits-cnn' }, [28, 28, 1], 10, 1), inputShape: [28, 28, 1], batch: 128 },
  { key: 'fraud', model: 'fraud MLP (shipped, 0.6 k)', build: () => buildModel({ builtin: 'mlp', hidden: [16, 8] }, [29], 2, 1), inputShape: [29], batch: 32 },
  { key: '2nn', model: 'FedAvg paper 2NN (199 k)', build: () => buildModel({ builtin: 'mlp', hidden: [200, 200] }, [28, 28, 1], 10, 1), inputShape: [28, 28, 1], batch: 10 },
  { key: 'paper-10', model: 'FedAvg paper CNN (1.66 M)', build: async () => paperCnn(), inputShape: [28, 28, 1], batch: 10 },
  { key: 'paper-50', model: 'FedAvg paper CNN (1.66 M)', build: async () => paperCnn(), inputShape: [28, 28, 1], batch: 50 },
];

const backends = (process.env.BENCH_GPU_BACKENDS ?? 'webgpu,wasm,cpu').split(',');
const only = process.env.BENCH_GPU_MODELS?.split(',');
const cases = CASES.filter((c) => !only || only.includes(c.key));
const budgetMs = Number(process.env.BENCH_GPU_MS ?? 1500);

/** Installs Dawn's WebGPU as `navigator.gpu` for TF.js; the adapter's description, or why there is none. */
async function installWebGpu(): Promise<{ adapter: string } | { reason: string }> {
  let dawn: { create(flags: string[]): { requestAdapter(): Promise<{ info?: Record<string, string> } | null> }; globals: object };
  try {
    dawn = (await import(/* @vite-ignore */ 'webgpu' as string)) as typeof dawn;
  } catch {
    return { reason: 'the `webgpu` package is not installed: `npm install --no-save webgpu@0.6.2`' };
  }
  Object.assign(globalThis, dawn.globals);
  const gpu = dawn.create([]);
  const adapter = await gpu.requestAdapter();
  if (!adapter) return { reason: 'Dawn found no adapter (no GPU driver; see this file for SwiftShader)' };
  Object.defineProperty(globalThis, 'navigator', { value: { gpu, userAgent: `Node ${process.version}` }, configurable: true });
  await import('@tensorflow/tfjs-backend-webgpu');
  const info = adapter.info ?? {};
  return { adapter: [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ') || 'unnamed adapter' };
}

interface Row {
  model: string;
  batch: number;
  backend: string;
  lossEvery: number;
  samplesPerSecond: number;
  msPerStep: number;
  steps: number;
}

/** Warm-up (compilation, uploads), then as many steps as fit the budget, the loss read every `lossEvery`. */
async function measure(c: Case, lossEvery: number): Promise<Omit<Row, 'backend'>> {
  const model = await c.build();
  const features = c.inputShape.reduce((a, b) => a * b, 1);
  const classes = (model.outputs[0]!.shape[1] as number) ?? 10;
  const data = (steps: number) => ({ features: Float32Array.from({ length: steps * c.batch * features }, () => Math.random()), labels: Int32Array.from({ length: steps * c.batch }, (_, i) => i % classes), count: steps * c.batch });
  const config = { epochs: 1, batchSize: c.batch, learningRate: 1e-3, optimizer: 'adam' as const, codec: 'f32' as const };
  const opts = { inputShape: c.inputShape, numClasses: classes, seed: 1, lossEvery };
  try {
    await trainLocally(model, data(2), config, opts);
    const one = await trainLocally(model, data(2), config, opts);
    const steps = Math.max(2, Math.min(400, Math.round(budgetMs / (one.trainMs / 2))));
    const timed = await trainLocally(model, data(steps), config, opts);
    return { model: c.model, batch: c.batch, lossEvery, samplesPerSecond: (steps * c.batch * 1000) / timed.trainMs, msPerStep: timed.trainMs / steps, steps };
  } finally {
    model.dispose();
  }
}

registerWasmConvFilterGradient();
const gpu = backends.includes('webgpu') ? await installWebGpu() : { reason: 'not asked for' };
if ('reason' in gpu) console.warn(`WebGPU: ${gpu.reason}`);
const rows: Row[] = [];
for (const backend of backends) {
  if (backend === 'webgpu' && 'reason' in gpu) continue;
  if (!(await tf.setBackend(backend))) {
    console.warn(`${backend}: TF.js could not initialise it`);
    continue;
  }
  await tf.ready();
  for (const c of cases) {
    for (const lossEvery of [1, LOSS_EVERY]) {
      const r = await measure(c, lossEvery);
      rows.push({ ...r, backend });
      process.stderr.write(`  ${backend} ${c.model} batch ${c.batch}, loss every ${lossEvery}: ${r.samplesPerSecond.toFixed(0)} samples/s, ${r.msPerStep.toFixed(1)} ms a step\n`);
    }
  }
}

const where = `${'adapter' in gpu ? `WebGPU adapter: ${gpu.adapter}` : `no WebGPU (${gpu.reason})`}; ${os.cpus()[0]?.model ?? 'unknown CPU'} × ${os.cpus().length}; Node ${process.version}, TF.js ${tf.version.tfjs}`;
const lines = [
  `Training throughput, \`trainLocally\` on random inputs, Adam, ${budgetMs} ms a measurement after a warm-up (${where})`,
  '',
  '| model | batch | backend | loss read every step: samples/s | ms/step | every 16: samples/s | ms/step | speed-up |',
  '|---|---|---|---|---|---|---|---|',
];
for (const r of rows.filter((x) => x.lossEvery !== 1)) {
  const before = rows.find((x) => x.lossEvery === 1 && x.model === r.model && x.batch === r.batch && x.backend === r.backend)!;
  lines.push(`| ${r.model} | ${r.batch} | ${r.backend} | ${before.samplesPerSecond.toFixed(0)} | ${before.msPerStep.toFixed(1)} | ${r.samplesPerSecond.toFixed(0)} | ${r.msPerStep.toFixed(1)} | ${(r.samplesPerSecond / before.samplesPerSecond).toFixed(2)}× |`);
}
console.log(`\n${lines.join('\n')}`);
mkdirSync(join('bench', 'results'), { recursive: true });
const file = join('bench', 'results', `gpu-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify({ where, rows }, null, 2));
console.log(`\n(written to ${file})`);
