/**
 * What simulated clients hold. Digits: the `mnist` package's 9,000 training digits partitioned with
 * core/partition.ts, tested on the same 1,000 held-out digits the coordinator uses. Fraud: its natural
 * per-client data (12 synthetic card holders, fraud.ts), tested on 40 others.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { labelCounts, partition, type PartitionSpec } from '../core/partition.ts';
import { createRng, shuffleInPlace } from '../core/rng.ts';
import { readCsvFile } from '../coordinator/task-file.ts';
import type { TaskDefinition } from '../coordinator/task.ts';
import type { ExampleBatch } from '../model/tf-model.ts';
import { FRAUD_DIR, generateFraud } from './fraud.ts';
import { FEATURES, splitDigits } from './mnist.ts';
import type { SimClient } from './simulation.ts';

export interface SimData {
  clients: SimClient[];
  test: ExampleBatch;
  /** Examples of each label per client (the partition's summary). */
  labelCounts: number[][];
}

export function loadSimData(task: TaskDefinition, opts: { clients: number; partition: PartitionSpec; holdout: number; seed: number }): SimData {
  if (task.id === 'fraud') return fraudData(task, opts);
  if (task.input.kind !== 'image' || task.input.shape.reduce((a, b) => a * b, 1) !== FEATURES) throw new Error(`the simulator has data for the digits and fraud tasks, not "${task.id}"`);
  const scale = task.input.scale;
  const { test, train } = splitDigits();
  const toBatch = (examples: { label: number; pixels: Uint8Array }[]): ExampleBatch => {
    const features = new Float32Array(examples.length * FEATURES);
    examples.forEach((e, i) => {
      for (let k = 0; k < FEATURES; k++) features[i * FEATURES + k] = e.pixels[k]! * scale;
    });
    return { features, labels: Int32Array.from(examples, (e) => e.label), count: examples.length };
  };
  const labels = Int32Array.from(train, (e) => e.label);
  const parts = partition(labels, opts.clients, opts.partition, opts.seed);
  const rng = createRng(opts.seed + 1);
  const clients = parts.map((indices, c) => {
    // A fixed, seeded part of each client's examples is its own held-out set, never trained on.
    const mine = shuffleInPlace([...indices], rng);
    const kept = Math.round(mine.length * opts.holdout);
    return { id: `sim-client-${String(c).padStart(4, '0')}`, heldOut: toBatch(mine.slice(0, kept).map((i) => train[i]!)), train: toBatch(mine.slice(kept).map((i) => train[i]!)) };
  });
  return { clients, test: toBatch(test), labelCounts: labelCounts(parts, labels, 10) };
}

function fraudData(task: TaskDefinition, opts: { clients: number; holdout: number; seed: number }): SimData {
  if (!existsSync(join(FRAUD_DIR, 'manifest.json'))) generateFraud();
  const files = Array.from({ length: 12 }, (_, i) => join(FRAUD_DIR, 'clients', `${String(i).padStart(2, '0')}.csv`));
  if (opts.clients > files.length) throw new Error(`the fraud task has ${files.length} natural clients; --clients ${opts.clients} is more`);
  const rng = createRng(opts.seed + 1);
  const clients = files.slice(0, opts.clients).map((file, c) => {
    const all = readCsvFile(file, task.input, 2);
    const width = all.features.length / all.count;
    const order = shuffleInPlace(Array.from({ length: all.count }, (_, i) => i), rng);
    const kept = Math.round(all.count * opts.holdout);
    const take = (idx: number[]): ExampleBatch => {
      const features = new Float32Array(idx.length * width);
      idx.forEach((i, k) => features.set(all.features.subarray(i * width, (i + 1) * width), k * width));
      return { features, labels: Int32Array.from(idx, (i) => all.labels[i]!), count: idx.length };
    };
    return { id: `sim-client-${String(c).padStart(4, '0')}`, heldOut: take(order.slice(0, kept)), train: take(order.slice(kept)) };
  });
  const counts = clients.map((c) => [0, 1].map((l) => [...c.train.labels, ...c.heldOut.labels].filter((x) => x === l).length));
  return { clients, test: readCsvFile(join(FRAUD_DIR, 'test.csv'), task.input, 2), labelCounts: counts };
}
