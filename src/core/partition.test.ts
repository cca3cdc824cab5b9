import { describe, expect, it } from 'vitest';
import { createRng } from './rng.ts';
import { gamma, labelCounts, parsePartitionSpec, partition } from './partition.ts';

// 1,000 examples, 100 of each of 10 labels, in label order.
const labels = Int32Array.from({ length: 1_000 }, (_, i) => Math.floor(i / 100));
const labelsHeld = (counts: number[]) => counts.filter((n) => n > 0).length;
const disjoint = (parts: number[][]) => new Set(parts.flat()).size === parts.flat().length;

describe('partitions', () => {
  it('iid: equal shares of every label, disjoint', () => {
    const parts = partition(labels, 10, { kind: 'iid' }, 1);
    expect(parts.map((p) => p.length)).toEqual(new Array(10).fill(100));
    expect(disjoint(parts)).toBe(true);
    for (const counts of labelCounts(parts, labels, 10)) expect(labelsHeld(counts)).toBeGreaterThanOrEqual(8);
  });

  it('labels:2 deals two label-sorted shards per client, as the FedAvg paper: at most two labels each', () => {
    const parts = partition(labels, 50, parsePartitionSpec('labels:2'), 7);
    expect(parts.every((p) => p.length === 20)).toBe(true); // 100 shards of 10
    expect(disjoint(parts)).toBe(true);
    expect(new Set(parts.flat()).size).toBe(1_000);
    const held = labelCounts(parts, labels, 10).map(labelsHeld);
    expect(Math.max(...held)).toBe(2);
    expect(held.filter((n) => n === 2).length).toBeGreaterThan(30); // two shards of one label happen, not often
  });

  it('shards:S cuts shards of S examples and gives each client as many as divide evenly', () => {
    const parts = partition(labels, 10, parsePartitionSpec('shards:25'), 3);
    expect(parts.every((p) => p.length === 100)).toBe(true); // 4 shards of 25 each
    expect(Math.max(...labelCounts(parts, labels, 10).map(labelsHeld))).toBeLessThanOrEqual(4);
    expect(() => partition(labels, 10, parsePartitionSpec('shards:200'), 3)).toThrow(/fewer than one shard/);
  });

  it('dirichlet:α gives each client an equal share, with few labels for small α and nearly all for large α', () => {
    const meanLabels = (alpha: number) => {
      const parts = partition(labels, 20, { kind: 'dirichlet', alpha }, 11);
      expect(parts.every((p) => p.length === 50)).toBe(true);
      expect(disjoint(parts)).toBe(true);
      expect(parts.flat().length).toBe(1_000);
      return labelCounts(parts, labels, 10).map((c) => c.filter((n) => n >= 2).length).reduce((a, b) => a + b, 0) / 20;
    };
    // A label is "held" here when the client has at least two examples of it.
    const skewed = meanLabels(0.1);
    const even = meanLabels(100);
    expect(skewed).toBeLessThan(4);
    expect(even).toBeGreaterThan(9);
  });

  it('is the same for the same seed, and another for another seed', () => {
    for (const spec of ['iid', 'labels:2', 'shards:10', 'dirichlet:0.5']) {
      const a = partition(labels, 20, parsePartitionSpec(spec), 5);
      expect(partition(labels, 20, parsePartitionSpec(spec), 5), spec).toEqual(a);
      expect(partition(labels, 20, parsePartitionSpec(spec), 6), spec).not.toEqual(a);
    }
  });

  it('reads the spec names and refuses others', () => {
    expect(parsePartitionSpec('dirichlet:0.1')).toEqual({ kind: 'dirichlet', alpha: 0.1 });
    for (const bad of ['labels', 'labels:0', 'labels:1.5', 'dirichlet:0', 'dirichlet:-1', 'shards:x', 'iid:3', 'zipf:2']) expect(() => parsePartitionSpec(bad), bad).toThrow(/partition/);
  });

  it('draws Gamma variates with the right mean and variance (both equal the shape)', () => {
    for (const shape of [0.1, 0.5, 2, 7]) {
      const rng = createRng(shape * 100);
      const draws = Array.from({ length: 40_000 }, () => gamma(shape, rng));
      const mean = draws.reduce((a, b) => a + b, 0) / draws.length;
      const variance = draws.reduce((a, b) => a + (b - mean) ** 2, 0) / draws.length;
      expect(mean, `mean of Gamma(${shape})`).toBeCloseTo(shape, 1);
      expect(Math.abs(variance - shape) / shape, `variance of Gamma(${shape})`).toBeLessThan(0.1);
    }
  });
});
