/**
 * `npm run bench`: training throughput of the trainer worker against the same training on the main thread,
 * per backend, in one headless Chromium (WebGPU through SwiftShader where there is no GPU), with the
 * longest main-thread stall in each case; in the worker both reading the loss back every step (as before
 * issue 14) and every 16 (the default since). Then the trainer left to choose: the backend its probe picks
 * on this machine, with the probe's numbers. Ratios are within this run, so a noisy machine shifts both sides.
 *
 * Options (environment): BENCH_EXAMPLES (256), BENCH_BACKENDS (webgpu,webgl,cpu), CHROMIUM_PATH.
 */
import { chromium, type Page } from '@playwright/test';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCoordinator } from '../e2e/coordinator.ts';
import { benchAppDir } from './bench-app.ts';
import { WEBGPU_ARGS } from '../playwright.config.ts';
import type { BenchResult } from './page.ts';
import { LOSS_EVERY } from '../src/model/tf-model.ts';
import type { BackendReport } from '../src/worker/protocol.ts';

const count = Number(process.env.BENCH_EXAMPLES ?? 256);
const backends = (process.env.BENCH_BACKENDS ?? 'webgpu,webgl,cpu').split(',') as ('webgpu' | 'webgl' | 'cpu')[];
const executablePath = process.env.CHROMIUM_PATH ?? (existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined);

const coordinator = await startCoordinator({ COVEY_APP_DIR: benchAppDir() });
const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', ...WEBGPU_ARGS] });
const results: BenchResult[] = [];
let probe: BackendReport | undefined;
/** A fresh page each time, so one run's GPU state and compiled shaders do not help the next. */
async function onFreshPage<T>(run: (page: Page) => Promise<T>): Promise<T> {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  try {
    await page.goto(`${coordinator.url}/bench/page.html`);
    await page.waitForFunction(() => typeof window.runBench === 'function');
    return await run(page);
  } finally {
    await page.close();
  }
}
try {
  for (const backend of backends) {
    for (const [where, lossEvery] of [['worker', 1], ['worker', LOSS_EVERY], ['main', LOSS_EVERY]] as const) {
      const result = await onFreshPage((page) => page.evaluate(([b, w, n, l]) => window.runBench(b, w, n, l), [backend, where, count, lossEvery] as const));
      if (result.backend !== backend) console.warn(`asked for ${backend}, got ${result.backend}`);
      results.push(result);
      process.stderr.write(`  ${backend} ${where}, loss every ${lossEvery}: ${result.samplesPerSecond.toFixed(0)} samples/s\n`);
    }
  }
  probe = await onFreshPage((page) => page.evaluate(() => window.runProbe()));
} finally {
  await browser.close();
  await coordinator.stop();
}

const pad = (s: string | number, n: number) => String(s).padStart(n);
console.log(`\nTraining throughput, digits CNN, ${count} examples, 1 epoch, batch 32 (${await browserVersion()})\n`);
console.log('backend   where         loss read      samples/s   ms/step   vs every step   vs main   longest main-thread task   longest heartbeat gap');
for (const r of results) {
  const main = results.find((m) => m.backend === r.backend && m.where === 'main');
  const before = results.find((m) => m.backend === r.backend && m.where === 'worker' && m.lossEvery === 1);
  const ratio = (other?: BenchResult) => (other && other !== r ? (r.samplesPerSecond / other.samplesPerSecond).toFixed(2) + '×' : '–');
  console.log(
    `${r.backend.padEnd(8)}  ${(r.where === 'main' ? 'main thread' : 'worker').padEnd(12)}  ${(r.lossEvery === 1 ? 'every step' : `every ${r.lossEvery}`).padEnd(12)}  ${pad(r.samplesPerSecond.toFixed(0), 9)}   ${pad(r.msPerStep.toFixed(0), 7)}   ${pad(r.where === 'worker' ? ratio(before) : '–', 13)}   ${pad(r.where === 'worker' && r.lossEvery !== 1 ? ratio(main) : '–', 7)}   ${pad(r.longestTaskMs.toFixed(0) + ' ms', 24)}   ${pad(r.longestHeartbeatGapMs.toFixed(0) + ' ms', 21)}`,
  );
}
if (probe) {
  console.log(`\nLeft to choose, the trainer's probe picked ${probe.backend} (${probe.probe?.chosenBy}, ${((probe.probe?.probeMs ?? 0) / 1000).toFixed(1)} s in all):`);
  for (const m of probe.probe?.measurements ?? []) {
    const speed = m.samplesPerSecond === undefined ? 'not timed' : `${m.samplesPerSecond.toFixed(0)} samples/s, ${m.msPerStep!.toFixed(0)} ms a step of ${m.batchSize}, first step ${m.warmupMs!.toFixed(0)} ms`;
    console.log(`  ${m.backend.padEnd(8)} ${speed}${m.gradientError === undefined ? '' : `, gradient error ${m.gradientError.toExponential(1)}`}${m.reason ? ` (not used: ${m.reason})` : ''}`);
  }
}
mkdirSync(join('bench', 'results'), { recursive: true });
const file = join('bench', 'results', `training-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify({ count, results, probe }, null, 2));
console.log(`\n(written to ${file})`);

async function browserVersion(): Promise<string> {
  const b = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
  const v = `Chromium ${b.version()}`;
  await b.close();
  return v;
}
