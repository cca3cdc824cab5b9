/**
 * "Load sample data": one client's shard of real MNIST digits, as if the person had drawn them. The shard
 * is picked by the caller (the app uses `?shard=N`, else a random one).
 */
import { decodeRecords } from '../core/example-records.ts';
import type { CoveyStore } from './store.ts';

export type Partition = 'iid' | 'noniid';

interface ShardInfo {
  file: string;
  examples: number;
  labels: number[];
}

export interface LoadedShard {
  partition: Partition;
  shard: number;
  examples: number;
  labels: number[];
}

export async function shardCount(baseUrl: string, partition: Partition): Promise<number> {
  return (await fetchManifest(baseUrl)).partitions[partition].length;
}

export async function loadSampleShard(store: CoveyStore, baseUrl: string, taskId: string, partition: Partition, shard: number): Promise<LoadedShard> {
  const manifest = await fetchManifest(baseUrl);
  const shards = manifest.partitions[partition];
  const info = shards[((shard % shards.length) + shards.length) % shards.length]!;
  const response = await fetch(new URL(`/datasets/digits/${partition}/${info.file}`, baseUrl));
  if (!response.ok) throw new Error(`sample shard ${info.file}: HTTP ${response.status}`);
  const examples = decodeRecords(new Uint8Array(await response.arrayBuffer()), 28 * 28);
  const addedAt = Date.now();
  await store.add(examples.map((e) => ({ taskId, label: e.label, pixels: e.pixels, source: 'sample' as const, addedAt })));
  return { partition, shard: shards.indexOf(info), examples: examples.length, labels: info.labels };
}

async function fetchManifest(baseUrl: string): Promise<{ partitions: Record<Partition, ShardInfo[]> }> {
  const response = await fetch(new URL('/datasets/digits/manifest.json', baseUrl));
  if (!response.ok) throw new Error(`sample data manifest: HTTP ${response.status}`);
  const body = (await response.json()) as { partitions?: Record<Partition, ShardInfo[]> };
  if (!body.partitions?.iid || !body.partitions.noniid) throw new Error('sample data manifest has no partitions');
  return { partitions: body.partitions };
}
