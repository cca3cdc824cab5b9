/**
 * The SDK's size budget: what a site downloads to embed Covey before anyone joins — `lib/covey.js` and the
 * chunks it imports — stays under BUDGET_GZIP_BYTES gzipped and holds no TF.js (which loads in the
 * trainer worker only, when training starts). Run by `npm test` after the build.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const LIB = 'lib';
const BUDGET_GZIP_BYTES = 16 * 1024;

function staticGraph(entry: string, seen = new Set<string>()): Set<string> {
  if (seen.has(entry)) return seen;
  seen.add(entry);
  const code = readFileSync(join(LIB, entry), 'utf8');
  for (const m of code.matchAll(/(?:^|[;\n}])\s*import\s*(?:[^'"]*?from\s*)?["']\.\/([^"']+)["']/g)) staticGraph(m[1]!, seen);
  return seen;
}

const files = [...staticGraph('covey.js')];
const gzipped = files.reduce((n, f) => n + gzipSync(readFileSync(join(LIB, f))).byteLength, 0);
const withTf = files.filter((f) => /registerBackend|tfjs-core|@tensorflow/.test(readFileSync(join(LIB, f), 'utf8')));
console.log(`SDK entry: ${files.join(' + ')} = ${(gzipped / 1024).toFixed(1)} kB gzipped (budget ${BUDGET_GZIP_BYTES / 1024} kB)`);
if (withTf.length > 0) {
  console.error(`TF.js found in the SDK entry's chunks: ${withTf.join(', ')}; it must load only in the worker`);
  process.exit(1);
}
if (gzipped > BUDGET_GZIP_BYTES) {
  console.error('over budget');
  process.exit(1);
}
