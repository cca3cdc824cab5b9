/**
 * Builds the device benchmark page (`npm run build:bench`) into a copy of the app's build, `.bench-app/`,
 * which the benchmarks serve: the app's own build (dist/) never ships the page or its main-thread TF.js.
 */
import { defineConfig } from 'vite';

export default defineConfig({
  publicDir: false,
  build: {
    target: 'es2022',
    outDir: process.env.COVEY_OUT_DIR ?? '.bench-app',
    emptyOutDir: false,
    chunkSizeWarningLimit: 2500,
    rollupOptions: { input: { bench: 'bench/page.html' } },
  },
  worker: { format: 'es' },
});
