/**
 * "Load sample data": one client's share of a task's demo data, as if the person had made it: a shard of
 * MNIST digits for "digits" (picked by the caller: the app uses `?shard=N`, else a random one), or one
 * client's transactions CSV for "fraud".
 */
import { decodeRecords } from '../core/example-records.ts';
import type { TaskSummary } from '../core/protocol.ts';
import { importCsv } from './csv-import.ts';
import type { CoveyStore } from './store.ts';

export type Partition = 'iid' | 'noniid';

interface ShardInfo {
  file: string;
  examples: number;
  labels: number[];
}

interface SampleManifest {
  /** Digits: shards per partition. */
  partitions?: Record<Partition, ShardInfo[]>;
  /** Tabular tasks: one CSV file per client. */
  clients?: string[];
}

export interface LoadedSample {
  description: string;
  examples: number;
}

/** How many samples (shards or clients) the task's demo data has, or 0 when it has none. */
export async function sampleCount(baseUrl: string, task: TaskSummary, partition: Partition): Promise<number> {
  const manifest = await fetchManifest(baseUrl, task.id);
  return manifest.partitions?.[partition]?.length ?? manifest.clients?.length ?? 0;
}

export async function loadSample(store: CoveyStore, baseUrl: string, task: TaskSummary, partition: Partition, index: number): Promise<LoadedSample> {
  const manifest = await fetchManifest(baseUrl, task.id);
  const wrap = <T>(items: readonly T[]): [T, number] => {
    if (items.length === 0) throw new Error('this task has no sample data');
    const i = ((index % items.length) + items.length) % items.length;
    return [items[i]!, i];
  };
  if (manifest.clients) {
    const [file, i] = wrap(manifest.clients);
    const text = await fetchOk(new URL(`/datasets/${task.id}/clients/${file}`, baseUrl)).then((r) => r.text());
    const examples = await importCsv(store, text, task, 'sample');
    return { description: `Added ${examples} sample records (client ${i}).`, examples };
  }
  const [info, i] = wrap(manifest.partitions?.[partition] ?? []);
  const bytes = new Uint8Array(await (await fetchOk(new URL(`/datasets/${task.id}/${partition}/${info.file}`, baseUrl))).arrayBuffer());
  const examples = decodeRecords(bytes, task.inputShape.reduce((a, b) => a * b, 1));
  const addedAt = Date.now();
  await store.add(examples.map((e) => ({ taskId: task.id, label: e.label, features: e.pixels, source: 'sample' as const, addedAt })));
  return { description: `Added ${examples.length} sample digits (${partition} shard ${i}, labels ${info.labels.join(', ')}).`, examples: examples.length };
}

async function fetchManifest(baseUrl: string, taskId: string): Promise<SampleManifest> {
  const body = (await (await fetchOk(new URL(`/datasets/${taskId}/manifest.json`, baseUrl))).json()) as SampleManifest;
  if (!body.partitions && !Array.isArray(body.clients)) throw new Error('sample data manifest lists nothing');
  return body;
}

async function fetchOk(url: URL): Promise<Response> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url.pathname}: HTTP ${response.status}`);
  return response;
}
