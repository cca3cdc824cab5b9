import { defineConfig } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';

/** Shown in the app's footer; a deployment is a build with another id. */
const buildId = process.env.COVEY_BUILD_ID ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z');

export default defineConfig({
  define: { __COVEY_BUILD__: JSON.stringify(buildId) },
  build: {
    target: 'es2022',
    outDir: process.env.COVEY_OUT_DIR ?? 'dist',
    // No source maps in what is deployed (the worker's alone is 17 MB); COVEY_SOURCEMAPS=true to debug a build.
    sourcemap: process.env.COVEY_SOURCEMAPS === 'true',
    // TF.js with its WebGPU backend is one ~2 MB chunk, loaded by the worker only.
    chunkSizeWarningLimit: 2500,
    // The operator's dashboard is a page of its own (/dashboard), with its own chart library.
    rollupOptions: { input: { main: 'index.html', dashboard: 'dashboard.html' } },
  },
  worker: { format: 'es' },
  plugins: [
    VitePWA({
      strategies: 'injectManifest',
      srcDir: 'src/sw',
      filename: 'sw.ts',
      injectRegister: false, // src/app/pwa.ts registers it through workbox-window
      registerType: 'prompt',
      includeManifestIcons: false, // the glob below has them already
      injectManifest: {
        // The trainer chunk (TF.js + backends, ~2 MB) must be precached or the app cannot train offline.
        maximumFileSizeToCacheInBytes: 6 * 1024 * 1024,
        globPatterns: ['**/*.{js,css,html,svg,png}'],
        // The operator's dashboard is not part of the app people install: not precached for them.
        globIgnores: ['dashboard.html', 'assets/dashboard-*'],
        rollupFormat: 'iife',
      },
      manifest: {
        id: '/',
        name: 'Covey: federated learning in your browser',
        short_name: 'Covey',
        description: 'Train a shared model on your own examples. Your data stays on your device; only weight updates are sent.',
        start_url: '/',
        scope: '/',
        display: 'standalone',
        background_color: '#f6f4ee',
        theme_color: '#1f5f4a',
        icons: [
          { src: '/icon-192.png', sizes: '192x192', type: 'image/png' },
          { src: '/icon-512.png', sizes: '512x512', type: 'image/png' },
          { src: '/icon-maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
        ],
      },
    }),
  ],
  server: {
    proxy: { '/v1': 'http://localhost:8080', '/datasets': 'http://localhost:8080' },
  },
});
