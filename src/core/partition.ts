/**
 * Splitting a dataset among simulated clients, named as Flower Datasets names its partitioners:
 *
 * | spec | what each client gets |
 * |---|---|
 * | `iid` | an equal share of the shuffled examples |
 * | `labels:K` | K shards of the label-sorted examples, dealt at random (McMahan et al. 2017's pathological non-IID: 200 shards of 300 for 100 clients is `labels:2`), so at most K labels |
 * | `shards:S` | shards of S label-sorted examples, as many per client as divide evenly (`shards:300` on 60k examples and 100 clients is the paper's split again) |
 * | `dirichlet:α` | an equal share of examples whose label proportions are drawn from Dir(α) for each client (Hsu et al. 2019): small α, few labels per client; large α, close to IID. A label that runs out is left out of the remaining draws |
 *
 * Pure and seeded: the same labels, clients, spec and seed give the same partition.
 */
import { createRng, shuffleInPlace } from './rng.ts';

export type PartitionSpec = { kind: 'iid' } | { kind: 'labels'; perClient: number } | { kind: 'shards'; size: number } | { kind: 'dirichlet'; alpha: number };

export function parsePartitionSpec(text: string): PartitionSpec {
  const [kind, arg] = text.split(':') as [string, string | undefined];
  const num = Number(arg);
  if (kind === 'iid' && arg === undefined) return { kind };
  if (kind === 'labels' && Number.isInteger(num) && num >= 1) return { kind, perClient: num };
  if (kind === 'shards' && Number.isInteger(num) && num >= 1) return { kind, size: num };
  if (kind === 'dirichlet' && num > 0 && Number.isFinite(num)) return { kind, alpha: num };
  throw new Error(`partition "${text}": use iid, labels:K, shards:S or dirichlet:α (K, S positive integers, α > 0)`);
}

/** Indices of the examples each of `clients` clients holds. Every example goes to at most one client. */
export function partition(labels: ArrayLike<number>, clients: number, spec: PartitionSpec, seed: number): number[][] {
  const rng = createRng(seed);
  switch (spec.kind) {
    case 'iid':
      return deal(shuffleInPlace(range(labels.length), rng), clients);
    case 'labels':
      return byShards(labels, clients, Math.floor(labels.length / (clients * spec.perClient)), spec.perClient, rng);
    case 'shards': {
      const perClient = Math.floor(labels.length / (clients * spec.size));
      if (perClient < 1) throw new Error(`shards:${spec.size}: ${labels.length} examples make fewer than one shard per client for ${clients} clients`);
      return byShards(labels, clients, spec.size, perClient, rng);
    }
    case 'dirichlet':
      return dirichlet(labels, clients, spec.alpha, rng);
  }
}

/** How many examples of each label each client holds: `counts[client][label]`. */
export function labelCounts(parts: number[][], labels: ArrayLike<number>, classes: number): number[][] {
  return parts.map((indices) => {
    const counts = new Array<number>(classes).fill(0);
    for (const i of indices) counts[labels[i]!]! += 1;
    return counts;
  });
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Cuts `items` into `parts` runs of equal length (the remainder is left out). */
function deal(items: number[], parts: number): number[][] {
  const size = Math.floor(items.length / parts);
  return range(parts).map((p) => items.slice(p * size, (p + 1) * size));
}

function byShards(labels: ArrayLike<number>, clients: number, shardSize: number, perClient: number, rng: () => number): number[][] {
  if (shardSize < 1) throw new Error(`${labels.length} examples are too few for ${clients} clients × ${perClient} shards`);
  // Sorted by label, ties in a seeded order, so a shard is (mostly) one label.
  const order = shuffleInPlace(range(labels.length), rng).sort((a, b) => labels[a]! - labels[b]!);
  const shards = shuffleInPlace(range(clients * perClient), rng);
  return range(clients).map((c) => shards.slice(c * perClient, (c + 1) * perClient).flatMap((s) => order.slice(s * shardSize, (s + 1) * shardSize)));
}

function dirichlet(labels: ArrayLike<number>, clients: number, alpha: number, rng: () => number): number[][] {
  const classes = Math.max(...Array.from(labels)) + 1;
  const pools: number[][] = range(classes).map(() => []);
  for (const i of shuffleInPlace(range(labels.length), rng)) pools[labels[i]!]!.push(i);
  const size = Math.floor(labels.length / clients);
  return range(clients).map(() => {
    // This client's label proportions q ~ Dir(α): normalised Gamma(α) draws.
    const q = range(classes).map(() => gamma(alpha, rng));
    const mine: number[] = [];
    while (mine.length < size) {
      const weights = q.map((w, l) => (pools[l]!.length > 0 ? w : 0));
      let total = weights.reduce((a, b) => a + b, 0);
      if (total === 0) {
        // Every label this client favours is used up: it takes from those left, evenly.
        weights.forEach((_, l) => (weights[l] = pools[l]!.length > 0 ? 1 : 0));
        total = weights.reduce((a, b) => a + b, 0);
      }
      let pick = rng() * total;
      let label = 0;
      while (label < classes - 1 && (pick -= weights[label]!) >= 0) label++;
      mine.push(pools[label]!.pop()!);
    }
    return mine;
  });
}

/** A Gamma(shape, 1) draw (Marsaglia and Tsang 2000; shape < 1 through Gamma(shape + 1)·U^(1/shape)). */
export function gamma(shape: number, rng: () => number): number {
  if (shape < 1) return gamma(shape + 1, rng) * Math.pow(rng() || Number.MIN_VALUE, 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number, v: number;
    do {
      x = normal(rng);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng();
    if (u < 1 - 0.0331 * x ** 4 || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** A standard normal draw (Box–Muller). */
function normal(rng: () => number): number {
  return Math.sqrt(-2 * Math.log(rng() || Number.MIN_VALUE)) * Math.cos(2 * Math.PI * rng());
}
