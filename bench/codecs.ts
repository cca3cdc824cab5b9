/**
 * `npm run bench` (and `tsx bench/codecs.ts` alone): encode and decode throughput of each codec for a delta
 * of 1.66 M parameters (the FedAvg paper's CNN), in Node and in a module Web Worker of headless Chromium,
 * the same code (bench/codec-throughput.ts). Needs the bench page built (`npm run build && npm run build:bench`).
 */
import { chromium } from '@playwright/test';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { startCoordinator } from '../e2e/coordinator.ts';
import { benchAppDir } from './bench-app.ts';
import { measureCodecs, PAPER_CNN_PARAMETERS, type CodecThroughput } from './codec-throughput.ts';

const executablePath = process.env.CHROMIUM_PATH ?? (existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined);

const node = measureCodecs();
const coordinator = await startCoordinator({ COVEY_APP_DIR: benchAppDir() });
const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update'] });
let worker: CodecThroughput[];
let version: string;
try {
  const page = await browser.newPage();
  await page.goto(`${coordinator.url}/bench/page.html`);
  await page.waitForFunction(() => typeof window.runCodecBench === 'function');
  worker = await page.evaluate((n) => window.runCodecBench(n), PAPER_CNN_PARAMETERS);
  version = browser.version();
} finally {
  await browser.close();
  await coordinator.stop();
}

const f32Bytes = PAPER_CNN_PARAMETERS * 4;
console.log(`\nCodec throughput, a delta of ${PAPER_CNN_PARAMETERS.toLocaleString('en')} parameters (${(f32Bytes / 1e6).toFixed(2)} MB as float32), MB of float32 per second; Node ${process.version} and Chromium ${version} (module worker), ${os.cpus()[0]?.model ?? 'unknown CPU'} × ${os.cpus().length}\n`);
console.log('| codec | payload | vs f32 | encode, Node | decode, Node | encode, worker | decode, worker |');
console.log('|---|---|---|---|---|---|---|');
for (const n of node) {
  const w = worker.find((x) => x.codec === n.codec)!;
  const mbps = (x: number) => `${x.toFixed(0)} MB/s`;
  console.log(`| ${n.codec} | ${(n.payloadBytes / 1000).toFixed(0)} kB | 1/${(f32Bytes / n.payloadBytes).toFixed(1)} | ${mbps(n.encodeMBps)} | ${mbps(n.decodeMBps)} | ${mbps(w.encodeMBps)} | ${mbps(w.decodeMBps)} |`);
}
