/**
 * Pace steering (Bonawitz et al. 2019, §2.3): a client told to wait is told for how long, so that the
 * population comes back at the rate the task can use, spread out rather than in a burst.
 *
 * If P clients each come back after T on average, they arrive at P / T a second; the task wants about R
 * check-ins a second (the places it fills per round, or the training slots that free up per lease in
 * buffered mode), so T = P / R, kept between a floor and a cap. Each answer is T times a factor drawn
 * uniformly from [1 − j, 1 + j] (j = ½): the mean stays T, and a thousand clients told to wait at the
 * same moment return spread over T, not at once.
 */

export interface PaceInput {
  /** Clients seen recently (the population that may come back). */
  population: number;
  /** Check-ins a second the task can use. */
  wantedPerSecond: number;
  /** Never sooner than this (ms). */
  floorMs: number;
  /** Never later than this (ms): a small federation may grow, and a new round should find its clients. */
  capMs: number;
}

export const PACE_JITTER = 0.5;

/** The mean wait for this population and rate, before jitter. */
export function meanPaceMs(p: PaceInput): number {
  const rate = p.wantedPerSecond > 0 ? p.wantedPerSecond : Number.MIN_VALUE;
  return Math.min(p.capMs, Math.max(p.floorMs, (Math.max(1, p.population) / rate) * 1000));
}

/** The wait to answer one client with: the mean with jitter, never under the floor. */
export function paceMs(p: PaceInput, random: () => number = Math.random): number {
  const factor = 1 - PACE_JITTER + 2 * PACE_JITTER * random();
  return Math.max(p.floorMs, Math.round(meanPaceMs(p) * factor));
}

/**
 * Distinct clients seen within the last `windowMs`: their count is the population pace steering divides by.
 * Memory is one entry per client seen in the window; old ones are dropped as time passes.
 */
export class RecentClients {
  private readonly seen = new Map<string, number>();

  constructor(readonly windowMs: number) {}

  touch(clientId: string, now: number): void {
    // Re-inserted so that the map stays ordered by last sight, oldest first, and pruning stops early.
    this.seen.delete(clientId);
    this.seen.set(clientId, now);
    this.prune(now);
  }

  count(now: number): number {
    this.prune(now);
    return this.seen.size;
  }

  private prune(now: number): void {
    for (const [id, at] of this.seen) {
      if (at > now - this.windowMs) break;
      this.seen.delete(id);
    }
  }
}
