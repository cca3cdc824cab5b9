/**
 * What the operator's dashboard shows of a task: the store's durable record (versions, rounds, assignments,
 * updates) joined with what this process saw and does not store (check-ins that were told to wait, refused
 * uploads, model bytes sent, who is around). The latter is kept in memory, bounded, and counts from this
 * process's start, which the view says.
 */
import type { OperatorPopulation, OperatorRound, OperatorTaskView, OperatorVersion } from '../core/operator.ts';
import type { Federation } from './federation.ts';
import type { CoordinatorStore, RoundActivity } from './store.ts';

const HOUR_MS = 3600_000;
const DAY_MS = 24 * HOUR_MS;
/** Rounds whose in-memory counts are kept per task (the dashboard shows fewer). */
const ROUNDS_KEPT = 200;
/** Clients remembered per task; past it, the least recently seen are forgotten first. */
const CLIENTS_KEPT = 100_000;
/** Rounds the task view returns. */
export const ROUNDS_SHOWN = 60;
/** Versions the task view returns, the latest. */
export const VERSIONS_SHOWN = 500;

interface Seen {
  at: number;
  backend: string;
  eligible: boolean;
}

interface RoundCounts {
  assigned: number;
  wait: number;
  refused: Record<string, number>;
}

class TaskObservations {
  /** Map order is least recently seen first: re-inserted on each visit. */
  readonly clients = new Map<string, Seen>();
  readonly rounds = new Map<number, RoundCounts>();
  readonly bytesDown = new Map<number, number>();
  readonly refusedTotal: Record<string, number> = {};

  round(id: number): RoundCounts {
    let r = this.rounds.get(id);
    if (!r) {
      this.rounds.set(id, (r = { assigned: 0, wait: 0, refused: {} }));
      for (const old of this.rounds.keys()) {
        if (this.rounds.size <= ROUNDS_KEPT) break;
        this.rounds.delete(old);
      }
    }
    return r;
  }

  see(clientId: string, seen: Seen): void {
    this.clients.delete(clientId);
    this.clients.set(clientId, seen);
    for (const old of this.clients.keys()) {
      if (this.clients.size <= CLIENTS_KEPT) break;
      this.clients.delete(old);
    }
  }
}

export class OperatorView {
  private readonly tasks = new Map<string, TaskObservations>();
  private readonly startedAt: number;

  constructor(private readonly now: () => number = Date.now) {
    this.startedAt = now();
  }

  private of(taskId: string): TaskObservations {
    let t = this.tasks.get(taskId);
    if (!t) this.tasks.set(taskId, (t = new TaskObservations()));
    return t;
  }

  /** A check-in answered: who asked, on what backend, with examples or not, and what they were told. */
  checkin(taskId: string, roundId: number, c: { clientId: string; exampleCount: number; backend?: string }, status: 'assigned' | 'wait'): void {
    const t = this.of(taskId);
    t.see(c.clientId, { at: this.now(), backend: c.backend ?? 'unknown', eligible: c.exampleCount > 0 });
    t.round(roundId)[status] += 1;
  }

  /** An update accepted: its client was around, held examples, and trained on `backend` (as it said). */
  uploaded(taskId: string, clientId: string, backend: string | undefined): void {
    const t = this.of(taskId);
    t.see(clientId, { at: this.now(), backend: backend ?? t.clients.get(clientId)?.backend ?? 'unknown', eligible: true });
  }

  /**
   * An upload refused. `roundId` is the round its URL names (null: none could be read); it is counted
   * under that round only if the round is the current one or one of those kept before it, so that URLs
   * naming rounds at random cannot push the real ones out of memory.
   */
  refused(taskId: string, roundId: number | null, reason: string, currentRoundId: number): void {
    const t = this.of(taskId);
    t.refusedTotal[reason] = (t.refusedTotal[reason] ?? 0) + 1;
    if (roundId !== null && roundId <= currentRoundId && roundId > currentRoundId - ROUNDS_KEPT) {
      const r = t.round(roundId);
      r.refused[reason] = (r.refused[reason] ?? 0) + 1;
    }
  }

  /** Model bytes sent for a version (weights or a delta to it). */
  sent(taskId: string, version: number, bytes: number): void {
    const t = this.of(taskId);
    t.bytesDown.set(version, (t.bytesDown.get(version) ?? 0) + bytes);
  }

  population(taskId: string): OperatorPopulation {
    const now = this.now();
    let lastHour = 0;
    let lastDay = 0;
    let eligibleLastHour = 0;
    const backends: Record<string, number> = {};
    for (const seen of this.of(taskId).clients.values()) {
      if (seen.at <= now - DAY_MS) continue;
      lastDay += 1;
      if (seen.at <= now - HOUR_MS) continue;
      lastHour += 1;
      if (seen.eligible) eligibleLastHour += 1;
      backends[seen.backend] = (backends[seen.backend] ?? 0) + 1;
    }
    return { lastHour, lastDay, eligibleLastHour, backends, since: new Date(this.startedAt).toISOString() };
  }

  task(federation: Federation, store: CoordinatorStore): OperatorTaskView {
    const task = federation.task;
    const t = this.of(task.id);
    const activity = store.roundActivity(task.id, ROUNDS_SHOWN);
    const byRound = new Map(activity.map((a) => [a.roundId, a]));
    const versions: OperatorVersion[] = store.history(task.id).slice(-VERSIONS_SHOWN).map((h) => ({
      ...h,
      bytesDown: t.bytesDown.get(h.version) ?? 0,
      bytesUp: h.roundId === null || task.secureAggregation ? null : (byRound.get(h.roundId)?.bytesUp ?? null),
    }));
    const summary = federation.summary();
    const privacy = task.privacy
      ? `${task.privacy.mode} DP: noise ×${task.privacy.noiseMultiplier}, clip ${summary.privacy?.clipNorm.toPrecision(3)}${task.privacy.adaptiveClipping ? ' (adaptive)' : ''}, δ ${task.privacy.delta}${task.privacy.maxEpsilon ? `, ε ≤ ${task.privacy.maxEpsilon}` : ''}`
      : 'none';
    const rounds = task.rounds.buffer
      ? `buffered: ${task.rounds.buffer.size} updates per version, at most ${task.rounds.buffer.maxStaleness} versions stale, ${task.rounds.buffer.concurrency} training at once`
      : `synchronous: ${task.rounds.minClients}–${task.rounds.targetClients} clients, deadline ${Math.round(task.rounds.deadlineMs / 1000)} s`;
    return {
      task: summary,
      paused: federation.paused,
      configuration: {
        strategy: task.strategy + (task.clipNorm ? ` (norm clipped at ${task.clipNorm})` : '') + (task.secureAggregation ? ', secure aggregation' : ''),
        serverOptimizer: task.serverOptimizer ? JSON.stringify(task.serverOptimizer) : null,
        clientOptimizer: `${task.training.optimizer}, lr ${task.training.learningRate}, ${task.training.epochs} epoch(s), batch ${task.training.batchSize}`,
        codec: task.training.codec,
        privacy,
        rounds,
      },
      versions,
      rounds: activity.map((a) => roundView(a, t.rounds.get(a.roundId), { secure: task.secureAggregation !== undefined, buffered: task.rounds.buffer !== undefined })),
      population: this.population(task.id),
      refusedTotal: { ...t.refusedTotal },
    };
  }
}

function roundView(a: RoundActivity, counts: RoundCounts | undefined, mode: { secure: boolean; buffered: boolean }): OperatorRound {
  const closed = a.state === 'closed';
  // Secure rounds store no single update: the clients in the version's sum are those who reported.
  const reported = mode.secure ? (a.versionClients ?? 0) : a.reported;
  const answered = mode.secure ? reported : a.answered;
  return {
    id: a.roundId,
    baseVersion: a.baseVersion,
    state: a.state,
    outcome: a.outcome,
    openedAt: new Date(a.openedAt).toISOString(),
    closedAt: a.closedAt === null ? null : new Date(a.closedAt).toISOString(),
    checkins: { assigned: counts?.assigned ?? 0, wait: counts?.wait ?? 0 },
    assigned: a.assigned,
    reported,
    carried: mode.secure ? 0 : a.carried,
    dropped: closed && !mode.buffered ? Math.max(0, a.assigned - answered) : null,
    refused: { ...(counts?.refused ?? {}) },
    bytesUp: mode.secure ? null : a.bytesUp,
    trainMs: a.trainMs.length ? { median: quantile(a.trainMs, 0.5), p90: quantile(a.trainMs, 0.9) } : null,
    backends: a.backends,
    norms: a.norms.length ? fiveNumbers(a.norms) : null,
  };
}

/** The q-quantile of sorted values, by the nearest rank. */
export function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Min, quartiles (nearest rank) and max of sorted values. */
export function fiveNumbers(sorted: readonly number[]): NonNullable<OperatorRound['norms']> {
  const at = (q: number) => quantile(sorted, q);
  return { min: sorted[0]!, p25: at(0.25), median: at(0.5), p75: at(0.75), max: sorted[sorted.length - 1]!, count: sorted.length };
}
