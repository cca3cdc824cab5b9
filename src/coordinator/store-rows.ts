/** Rows as both stores read them (sqlite-store.ts, postgres/pg-store.ts): the same columns, the same objects. */
import type { HistoryPoint, RoundState } from '../core/protocol.ts';
import type { RoundActivity, RoundRow } from './store.ts';

export function toRoundRow(r: Record<string, unknown>): RoundRow {
  return {
    taskId: r.task_id as string,
    roundId: r.round_id as number,
    baseVersion: r.base_version as number,
    state: r.state as RoundState,
    minClients: r.min_clients as number,
    targetClients: r.target_clients as number,
    openedAt: r.opened_at as number,
    deadlineAt: r.deadline_at as number,
    closedAt: (r.closed_at as number | null) ?? null,
    outcome: (r.outcome as string | null) ?? null,
  };
}

/** What the history shows of a version's privacy record: its guarantee and the sampling rate behind it (not the RDP curve). */
export function publicPrivacy(json: string): NonNullable<HistoryPoint['privacy']> {
  const p = JSON.parse(json, (_key, v: unknown) => (v === 'Infinity' ? Infinity : v)) as NonNullable<HistoryPoint['privacy']>;
  // The next clip norm comes from a noised count: it is as private as the model.
  return { mode: p.mode ?? 'central', epsilon: p.epsilon, epsilonUnsampled: p.epsilonUnsampled, rounds: p.rounds, delta: p.delta, samplingRate: p.samplingRate, noiseMultiplier: p.noiseMultiplier, clipNorm: p.clipNorm, ...(p.nextClipNorm === undefined ? {} : { nextClipNorm: p.nextClipNorm }) };
}

/** SQLite BLOBs come back as Buffers whose offset need not be 4-aligned: copy into a fresh Float32Array. */
export function toFloat32(buf: Uint8Array): Float32Array {
  const out = new Float32Array(buf.byteLength / 4);
  new Uint8Array(out.buffer).set(buf);
  return out;
}

export function fromFloat32(v: Float32Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** One row of the history query (the same SELECT in both stores) as the API's HistoryPoint. */
export function historyPoint(r: Record<string, number | null> & { metrics: string | null; privacy: string | null }): HistoryPoint {
  return {
    version: r.version!,
    roundId: r.round_id ?? null,
    numClients: r.num_clients!,
    numExamples: r.num_examples!,
    clientLoss: r.client_loss ?? null,
    accuracy: r.accuracy ?? null,
    loss: r.loss ?? null,
    metrics: r.metrics ? (JSON.parse(r.metrics) as HistoryPoint['metrics']) : {},
    federated: r.fed_examples
      ? {
          accuracy: r.fed_correct! / r.fed_examples,
          loss: r.fed_loss_sum! / r.fed_examples,
          examples: r.fed_examples,
          clients: r.fed_clients!,
          ...(r.fed_personal_examples ? { personalAccuracy: r.fed_personal_correct! / r.fed_personal_examples } : {}),
        }
      : null,
    ...(r.privacy ? { privacy: publicPrivacy(r.privacy) } : {}),
    ...(r.mean_tau === null || r.mean_tau === undefined ? {} : { staleness: { mean: r.mean_tau, max: r.max_tau!, meanWeight: r.mean_weight! } }),
    createdAt: new Date(r.created_at!).toISOString(),
  };
}

/** An update as the dashboard's per-round query reads it. */
export interface ActivityUpdateRow {
  round_id: number;
  backend: string | null;
  bytes: number;
  train_ms: number | null;
  norm: number | null;
}

/** The dashboard's rounds from what both stores read: the rounds, their updates, and the counts by round. */
export function roundActivities(rounds: RoundRow[], updates: ActivityUpdateRow[], assignments: Map<number, { n: number; answered: number }>, carried: Map<number, number>, versions: Map<number, number>): RoundActivity[] {
  const byRound = new Map<number, ActivityUpdateRow[]>();
  for (const u of updates) {
    const list = byRound.get(u.round_id);
    if (list) list.push(u);
    else byRound.set(u.round_id, [u]);
  }
  return rounds.map((r) => {
    const us = byRound.get(r.roundId) ?? [];
    const backends: Record<string, number> = {};
    for (const u of us) backends[u.backend ?? 'unknown'] = (backends[u.backend ?? 'unknown'] ?? 0) + 1;
    return {
      roundId: r.roundId,
      baseVersion: r.baseVersion,
      state: r.state,
      outcome: r.outcome,
      openedAt: r.openedAt,
      closedAt: r.closedAt,
      assigned: assignments.get(r.roundId)?.n ?? 0,
      reported: us.length,
      carried: carried.get(r.roundId) ?? 0,
      answered: assignments.get(r.roundId)?.answered ?? 0,
      versionClients: versions.get(r.roundId) ?? null,
      bytesUp: us.reduce((n, u) => n + u.bytes, 0),
      trainMs: us.flatMap((u) => (u.train_ms === null ? [] : [u.train_ms])).sort((a, b) => a - b),
      backends,
      norms: us.flatMap((u) => (u.norm === null ? [] : [u.norm])).sort((a, b) => a - b),
    };
  });
}
