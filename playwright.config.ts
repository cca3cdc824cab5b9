import { defineConfig } from '@playwright/test';
import { existsSync } from 'node:fs';

/** Debian's Chromium unless CHROMIUM_PATH says otherwise; Playwright's own browser where neither exists. */
const executablePath = process.env.CHROMIUM_PATH ?? (existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined);

const args = [
  '--no-sandbox', // CI runs as root
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
];

/** WebGPU in headless Chromium without a GPU: SwiftShader's Vulkan implementation (slow, but the real code path). */
export const WEBGPU_ARGS = [
  '--enable-unsafe-webgpu',
  '--enable-unsafe-swiftshader',
  '--use-angle=swiftshader',
  '--enable-features=Vulkan',
  '--use-webgpu-adapter=swiftshader',
];

export default defineConfig({
  testDir: 'e2e',
  // Federations of several browsers share this machine's 2 cores: run tests one at a time.
  workers: 1,
  fullyParallel: false,
  timeout: 6 * 60_000,
  expect: { timeout: 15_000 },
  reporter: 'list',
  retries: 0,
  // A trace is recorded for every test and kept for failures: locally, where someone can open it. CI's
  // clone is thrown away with its traces, so there it records none (recording costs every test time).
  use: { trace: process.env.CI ? 'off' : 'retain-on-failure' },
  projects: [
    { name: 'webgl', testIgnore: /webgpu\.spec\.ts/, use: { launchOptions: { executablePath, args } } },
    { name: 'webgpu', testMatch: /webgpu\.spec\.ts/, use: { launchOptions: { executablePath, args: [...args, ...WEBGPU_ARGS] } } },
  ],
});
