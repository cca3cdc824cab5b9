/**
 * `npm run build`'s step for the fraud demo data (src/sim/fraud.ts): skipped while its files are newer than
 * the generator.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FRAUD_DIR, generateFraud } from '../src/sim/fraud.ts';

const generator = fileURLToPath(new URL('../src/sim/fraud.ts', import.meta.url));
const manifest = join(FRAUD_DIR, 'manifest.json');
if (existsSync(manifest) && statSync(manifest).mtimeMs > statSync(generator).mtimeMs) {
  console.log(`fraud: up to date in ${FRAUD_DIR}`);
} else {
  const profiles = generateFraud();
  console.log(`fraud: ${profiles.length} clients (fraud rates ${profiles.map((p) => `${(p.fraudRate * 100).toFixed(1)}%`).join(', ')}) and a held-out set in ${FRAUD_DIR}`);
}
