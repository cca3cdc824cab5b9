/**
 * The SDK's library build (`lib/`): `covey.js`, the SDK entry, small and free of TF.js; and
 * `trainer.worker.js`, the same trainer entry the PWA runs, with TF.js and its backends. The coordinator
 * serves both under /sdk/; the npm package exports them as `covey` and `covey/worker`.
 */
import { defineConfig } from 'vite';

export default defineConfig({
  publicDir: false,
  build: {
    target: 'es2022',
    outDir: 'lib',
    emptyOutDir: false,
    // As the app's build: no source maps unless COVEY_SOURCEMAPS=true (the worker's alone is 16 MB).
    sourcemap: process.env.COVEY_SOURCEMAPS === 'true',
    chunkSizeWarningLimit: 2500,
    lib: {
      entry: { covey: 'src/sdk/index.ts', 'trainer.worker': 'src/worker/trainer.worker.ts' },
      formats: ['es'],
      fileName: (_format, name) => `${name}.js`,
    },
  },
});
