/**
 * Synthetic card transactions for the "fraud" demo task, made once at build time (seeded, by
 * scripts/generate-fraud.ts) or by the simulator when it needs them:
 *
 *   .generated/datasets/fraud/clients/NN.csv   one file per client: that person's (or bank's) own transactions
 *   .generated/datasets/fraud/test.csv         held-out transactions, read by the coordinator only
 *   .generated/datasets/fraud/manifest.json    the clients' profiles
 *
 * Heterogeneous on purpose: each client has its own spending level, share of online purchases, active
 * hours, favourite merchants and fraud rate (0.5 % to 12 %). Fraud looks different from a client's usual
 * spending: larger amounts, at night, far from home or abroad, in a burst, at risky merchants — each only
 * more likely, never certain, so no single column gives it away.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRng } from '../core/rng.ts';

export const CATEGORIES = ['grocery', 'restaurant', 'fuel', 'travel', 'electronics', 'online_services', 'jewelry'];
const RISKY = new Set(['electronics', 'jewelry', 'travel', 'online_services']);
const HEADER = ['amount', 'hour', 'category', 'distance_km', 'online', 'foreign', 'tx_last_24h', 'is_fraud'];
const CLIENTS = 12;
const SEED = 20240611;

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FRAUD_DIR = join(root, '.generated', 'datasets', 'fraud');

interface Profile {
  client: number;
  fraudRate: number;
  logSpend: number;
  onlineShare: number;
  nightOwl: boolean;
  favourites: string[];
  transactions: number;
}

type Rng = () => number;

const normal = (rng: Rng) => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
const poisson = (rng: Rng, mean: number) => {
  let k = 0;
  for (let p = Math.exp(-mean), s = rng(); s > p; s *= rng()) k++;
  return k;
};
const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)]!;

function makeProfile(rng: Rng, client: number): Profile {
  const rates = [0.005, 0.01, 0.02, 0.04, 0.08, 0.12];
  return {
    client,
    fraudRate: pick(rng, rates),
    logSpend: 2.5 + 1.5 * rng(), // typical purchase from ~12 to ~55
    onlineShare: 0.1 + 0.7 * rng(),
    nightOwl: rng() < 0.25,
    favourites: [pick(rng, CATEGORIES.slice(0, 3)), pick(rng, CATEGORIES)],
    transactions: 400 + Math.floor(rng() * 400),
  };
}

function transaction(rng: Rng, p: Profile, fraud: boolean): (string | number)[] {
  const online = rng() < (fraud ? 0.7 : p.onlineShare) ? 1 : 0;
  const hour = fraud && rng() < 0.6 ? Math.floor(rng() * 6) : Math.floor(p.nightOwl ? (16 + rng() * 10) % 24 : 7 + rng() * 15);
  const category = fraud ? (rng() < 0.75 ? pick(rng, [...RISKY]) : pick(rng, CATEGORIES)) : rng() < 0.6 ? pick(rng, p.favourites) : pick(rng, CATEGORIES);
  const amount = Math.exp(p.logSpend + (fraud ? 1.3 + normal(rng) : 0.8 * normal(rng)));
  const foreign = rng() < (fraud ? 0.3 : 0.02) ? 1 : 0;
  const distance = online ? 0 : -Math.log(1 - rng()) * (fraud || foreign ? 400 : 6);
  const burst = poisson(rng, fraud ? 6 : 2);
  return [amount.toFixed(2), hour, category, distance.toFixed(1), online, foreign, burst, fraud ? 1 : 0];
}

function toCsv(rows: (string | number)[][]): string {
  return [HEADER.join(','), ...rows.map((r) => r.join(','))].join('\n') + '\n';
}

function transactions(rng: Rng, p: Profile, count: number): (string | number)[][] {
  return Array.from({ length: count }, () => transaction(rng, p, rng() < p.fraudRate));
}

export function generateFraud(): Profile[] {
  const rng = createRng(SEED);
  mkdirSync(join(FRAUD_DIR, 'clients'), { recursive: true });
  const profiles = Array.from({ length: CLIENTS }, (_, i) => makeProfile(rng, i));
  for (const p of profiles) writeFileSync(join(FRAUD_DIR, 'clients', `${String(p.client).padStart(2, '0')}.csv`), toCsv(transactions(rng, p, p.transactions)));
  // Held out: other clients' transactions, at a 5 % fraud rate so the metric sees enough of both classes.
  const test = Array.from({ length: 40 }, (_, i) => transactions(rng, { ...makeProfile(rng, 100 + i), fraudRate: 0.05 }, 100)).flat();
  writeFileSync(join(FRAUD_DIR, 'test.csv'), toCsv(test));
  writeFileSync(join(FRAUD_DIR, 'manifest.json'), JSON.stringify({ clients: profiles, test: { examples: test.length } }, null, 2));
  return profiles;
}
