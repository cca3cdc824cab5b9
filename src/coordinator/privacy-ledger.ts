/**
 * A task's differential privacy at run time (split from federation.ts): the accountant's state after the
 * current version, the round's clip norm (fixed, or chosen by adaptive clipping), the norm bound uploads
 * are held to, the private aggregation strategy, and whether the budget is spent. Also the clip norm that
 * secure aggregation's clients clip to. Pure bookkeeping: the federation stores what `account` returns with
 * each version and hands it back through `restore`.
 */
import type { TrainingConfig } from '../core/protocol.ts';
import type { Strategy } from '../core/strategy.ts';
import { getStrategy } from '../core/strategies/index.ts';
import { withCentralDp } from '../core/privacy/central-dp.ts';
import { updateNoiseMultiplier } from '../core/privacy/adaptive-clip.ts';
import { DEFAULT_ORDERS, epsilonFromRdp, epsilonOf, rdpOfRounds } from '../core/privacy/rdp.ts';
import { privateTrainingConfig, type TaskDefinition } from './task.ts';

/** What is stored with each private version (model_versions.privacy): its guarantee, and the RDP curve (per DEFAULT_ORDERS) the next round composes with. */
export interface PrivacyRecord {
  /** Which guarantee: against the world that sees the models (central), or against the coordinator too (local). Absent in records before local mode: central. */
  mode?: 'central' | 'local';
  /** ε under the accountant's assumption: each client in a round independently with probability samplingRate. */
  epsilon: number;
  /** ε for a client that took part in every private round so far (q = 1): needs no sampling assumption. */
  epsilonUnsampled: number;
  /** Private rounds composed into it. */
  rounds: number;
  /** The orders the RDP curve is at (a later DEFAULT_ORDERS may differ). */
  orders: number[];
  delta: number;
  samplingRate: number;
  noiseMultiplier: number;
  /** The clip norm of the round that made this version. */
  clipNorm: number;
  /** Adaptive clipping: the clip norm the next round uses, from this round's noised clip count. */
  nextClipNorm?: number;
  rdp: number[];
}

// JSON has no Infinity (z = 0 gives ε = ∞, and RDP is ∞ at some orders): kept as the string "Infinity".
export const stringifyPrivacy = (p: PrivacyRecord): string => JSON.stringify(p, (_key, v: unknown) => (v === Infinity ? 'Infinity' : v));
export const parsePrivacy = (json: string): PrivacyRecord => JSON.parse(json, (_key, v: unknown) => (v === 'Infinity' ? Infinity : v)) as PrivacyRecord;

export class PrivacyLedger {
  /** The accountant's state after the current version (null before the first private round, or without DP). */
  record: PrivacyRecord | null = null;
  private spent: { key: string; value: boolean } | undefined;

  constructor(
    private readonly task: TaskDefinition,
    private readonly parameterCount: number,
    /** Clients the coordinator has seen for the task: the population a round is sampled from. */
    private readonly countClients: () => number,
  ) {}

  /** Takes up the record stored with the current version (`version`). */
  restore(version: number, json: string | null): void {
    this.record = this.task.privacy ? restorePrivacy(version, json, this.task.privacy.mode) : null;
    this.spent = undefined;
  }

  /**
   * The current round's clip norm: the task's, or with adaptive clipping the one the last private version
   * chose for the next round. A round trains one base version, so its clip norm stays for the whole round.
   */
  clipNorm(): number {
    // A stored next clip norm only while the task clips adaptively (a task file may have turned it off).
    const adaptive = this.task.privacy?.adaptiveClipping ? this.record?.nextClipNorm : undefined;
    return adaptive ?? this.task.privacy?.clipNorm ?? this.task.secureAggregation!.clipNorm;
  }

  /** What the round's clients are told: the task's training, with a private task's round clip norm and noise. */
  trainingConfig(): TrainingConfig {
    if (this.task.privacy) return privateTrainingConfig(this.task.training, this.task.privacy, this.clipNorm());
    // Secure aggregation bounds what it sums: the clients clip to S.
    return this.task.secureAggregation ? { ...this.task.training, clipNorm: this.task.secureAggregation.clipNorm } : this.task.training;
  }

  /**
   * The largest update norm a private round accepts (null: no DP bound). Central: S. Local: S plus the norm
   * the client's own noise may add; that norm is z·S·√d give or take z·S/√2, and exceeds z·S·(√d + 10)
   * with probability below e^−50 (Gaussian concentration), so no honest update is refused.
   */
  normBound(): number | null {
    const p = this.task.privacy;
    if (!p) return null;
    const s = this.clipNorm();
    return p.mode === 'local' ? s + p.noiseMultiplier * s * (Math.sqrt(this.parameterCount) + 10) : s;
  }

  /**
   * Central: DP-FedAvg at the round's clip norm, the noise on the update reduced by what the clip count
   * takes with adaptive clipping (the pair together is the task's z). Local: the clients noised their
   * updates; the coordinator takes the plain mean of them, each with the same weight.
   */
  strategy(): Strategy {
    const p = this.task.privacy!;
    if (p.mode === 'local') return getStrategy('fedavg');
    const z = p.adaptiveClipping ? updateNoiseMultiplier(p.noiseMultiplier, p.adaptiveClipping.countNoise) : p.noiseMultiplier;
    return withCentralDp({ clipNorm: this.clipNorm(), noiseMultiplier: z, expectedClients: this.task.rounds.targetClients });
  }

  /**
   * The accountant after a round of `updates` clients: its sampling rate is what the coordinator did, the
   * round's updates over the clients it has seen (the population a browser federation has), composed with
   * every round before by adding RDP order by order.
   */
  account(updates: number, population = this.countClients()): PrivacyRecord {
    const p = this.task.privacy!;
    // Local mode: each upload is a Gaussian mechanism the person ran themselves, seen by the coordinator, so
    // no sampling amplifies it (q = 1), and between any two of a person's updates the distance is up to 2S
    // (the coordinator may compare any two), which halves the effective multiplier.
    const local = p.mode === 'local';
    const samplingRate = local ? 1 : Math.min(1, updates / Math.max(population, updates));
    const noise = local ? p.noiseMultiplier / 2 : p.noiseMultiplier;
    const before = this.record?.rdp ?? DEFAULT_ORDERS.map(() => 0);
    const rdp = rdpOfRounds(samplingRate, noise, 1).map((r, k) => r + before[k]!);
    // Without the sampling assumption: a client that took part in every round (q = 1 each time).
    const rounds = (this.record?.rounds ?? 0) + 1;
    const unsampled = epsilonOf({ q: 1, noise, rounds, delta: p.delta }).epsilon;
    return { mode: p.mode, epsilon: epsilonFromRdp(DEFAULT_ORDERS, rdp, p.delta).epsilon, epsilonUnsampled: unsampled, rounds, delta: p.delta, samplingRate, noiseMultiplier: p.noiseMultiplier, clipNorm: this.clipNorm(), orders: [...DEFAULT_ORDERS], rdp };
  }

  /** Whether one more round, of the task's target size, would take ε past the task's maxEpsilon (kept per version and population). */
  budgetSpent(version: number): boolean {
    const max = this.task.privacy?.maxEpsilon;
    if (max === undefined) return false;
    const population = this.countClients();
    const key = `${version}/${population}`;
    if (this.spent?.key !== key) this.spent = { key, value: this.account(this.task.rounds.targetClients, population).epsilon > max };
    return this.spent.value;
  }
}

/**
 * The accountant's state to compose on, from the latest version's record. A version without one, after the
 * first, was trained without privacy (the task file changed, or a record was lost): no guarantee holds for
 * it, so ε is ∞ from there on; so too when the stored curve is at other orders than today's.
 */
function restorePrivacy(version: number, json: string | null, mode: 'central' | 'local'): PrivacyRecord | null {
  const record = json ? parsePrivacy(json) : null;
  if (version === 0 && !record) return null;
  const sameOrders = record?.orders?.length === DEFAULT_ORDERS.length && record.orders.every((a, k) => a === DEFAULT_ORDERS[k]);
  // Rounds of the other mode give none of this mode's guarantee (central rounds none against the coordinator).
  if (record && sameOrders && (record.mode ?? 'central') === mode) return record;
  return { ...(record ?? { delta: 0, samplingRate: 1, noiseMultiplier: 0, clipNorm: 0 }), mode, epsilon: Infinity, epsilonUnsampled: Infinity, rounds: record?.rounds ?? version, orders: [...DEFAULT_ORDERS], rdp: DEFAULT_ORDERS.map(() => Infinity) };
}
