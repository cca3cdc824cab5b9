/**
 * `npm run bench`: training throughput of the trainer worker against the same training on the main thread,
 * per backend, in one headless Chromium (WebGPU through SwiftShader where there is no GPU), with the
 * longest main-thread stall in each case. Ratios are within this run, so a noisy machine shifts both sides.
 *
 * Options (environment): BENCH_EXAMPLES (256), BENCH_BACKENDS (webgpu,webgl,cpu), CHROMIUM_PATH.
 */
import { chromium } from '@playwright/test';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCoordinator } from '../e2e/coordinator.ts';
import { benchAppDir } from './bench-app.ts';
import { WEBGPU_ARGS } from '../playwright.config.ts';
import type { BenchResult } from './page.ts';

const count = Number(process.env.BENCH_EXAMPLES ?? 256);
const backends = (process.env.BENCH_BACKENDS ?? 'webgpu,webgl,cpu').split(',') as ('webgpu' | 'webgl' | 'cpu')[];
const executablePath = process.env.CHROMIUM_PATH ?? (existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined);

const coordinator = await startCoordinator({ COVEY_APP_DIR: benchAppDir() });
const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', ...WEBGPU_ARGS] });
const results: BenchResult[] = [];
try {
  for (const backend of backends) {
    for (const where of ['worker', 'main'] as const) {
      // A fresh page each time, so one run's GPU state and compiled shaders do not help the next.
      const page = await browser.newPage();
      page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
      await page.goto(`${coordinator.url}/bench/page.html`);
      await page.waitForFunction(() => typeof window.runBench === 'function');
      const result = await page.evaluate(([b, w, n]) => window.runBench(b, w, n), [backend, where, count] as const);
      if (result.backend !== backend) console.warn(`asked for ${backend}, got ${result.backend}`);
      results.push(result);
      process.stderr.write(`  ${backend} ${where}: ${result.samplesPerSecond.toFixed(0)} samples/s\n`);
      await page.close();
    }
  }
} finally {
  await browser.close();
  await coordinator.stop();
}

const pad = (s: string | number, n: number) => String(s).padStart(n);
console.log(`\nTraining throughput, digits CNN, ${count} examples, 1 epoch, batch 32 (${await browserVersion()})\n`);
console.log('backend   where         samples/s   vs main   longest main-thread task   longest heartbeat gap');
for (const r of results) {
  const main = results.find((m) => m.backend === r.backend && m.where === 'main');
  const ratio = main ? (r.samplesPerSecond / main.samplesPerSecond).toFixed(2) + '×' : '–';
  console.log(
    `${r.backend.padEnd(8)}  ${(r.where === 'main' ? 'main thread' : 'worker').padEnd(12)}  ${pad(r.samplesPerSecond.toFixed(0), 9)}   ${pad(ratio, 7)}   ${pad(r.longestTaskMs.toFixed(0) + ' ms', 24)}   ${pad(r.longestHeartbeatGapMs.toFixed(0) + ' ms', 21)}`,
  );
}
mkdirSync(join('bench', 'results'), { recursive: true });
const file = join('bench', 'results', `training-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify({ count, results }, null, 2));
console.log(`\n(written to ${file})`);

async function browserVersion(): Promise<string> {
  const b = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
  const v = `Chromium ${b.version()}`;
  await b.close();
  return v;
}
