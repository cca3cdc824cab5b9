/**
 * Builds the device benchmark page into dist/bench/ after the app's build, so that none of its code (it
 * carries TF.js for the main thread) lands in the app's precache.
 */
import { defineConfig } from 'vite';

export default defineConfig({
  publicDir: false,
  build: {
    target: 'es2022',
    outDir: process.env.COVEY_OUT_DIR ?? 'dist',
    emptyOutDir: false,
    chunkSizeWarningLimit: 2500,
    rollupOptions: { input: { bench: 'bench/page.html' } },
  },
  worker: { format: 'es' },
});
