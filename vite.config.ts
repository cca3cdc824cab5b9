import { defineConfig } from 'vite';

export default defineConfig({
  build: {
    target: 'es2022',
    outDir: 'dist',
    sourcemap: true,
    // TF.js with its WebGPU backend is one ~2 MB chunk, loaded by the worker only.
    chunkSizeWarningLimit: 2500,
    rollupOptions: {
      // The app, and the device benchmark page that `npm run bench` drives (also usable by hand).
      input: { app: 'index.html', bench: 'bench/page.html' },
    },
  },
  worker: { format: 'es' },
  server: {
    proxy: { '/v1': 'http://localhost:8080', '/datasets': 'http://localhost:8080' },
  },
});
