/**
 * The app's first-load budget: the script `dist/index.html` loads before the person does anything (its
 * entry and the chunks it preloads) stays under BUDGET_GZIP_BYTES gzipped and holds no TF.js. The round
 * loop, the model download, the PWA's registration, the sample data and the file formats load later, when
 * used. Run by `npm run build`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const DIST = 'dist';
const BUDGET_GZIP_BYTES = 22 * 1024;

const html = readFileSync(join(DIST, 'index.html'), 'utf8');
const files = [...html.matchAll(/<(?:script[^>]*\bsrc|link[^>]*\brel="modulepreload"[^>]*\bhref)="\/([^"]+\.js)"/g)].map((m) => m[1]!);
if (files.length === 0) throw new Error('dist/index.html loads no script: is the build there?');
const gzipped = files.reduce((n, f) => n + gzipSync(readFileSync(join(DIST, f))).byteLength, 0);
const withTf = files.filter((f) => /registerBackend|tfjs-core|@tensorflow/.test(readFileSync(join(DIST, f), 'utf8')));
console.log(`App first load: ${files.length} scripts = ${(gzipped / 1024).toFixed(1)} kB gzipped (budget ${BUDGET_GZIP_BYTES / 1024} kB)`);
if (withTf.length > 0) {
  console.error(`TF.js found in the app's first load: ${withTf.join(', ')}; it must load only in the worker`);
  process.exit(1);
}
if (gzipped > BUDGET_GZIP_BYTES) {
  console.error('over budget');
  process.exit(1);
}
