/**
 * Which of a round's assignments still hold a place in it. A check-in that is assigned holds one of the
 * round's places for `leaseMs`; a client that uploads within it gives the place to its update, and one that
 * stays silent loses the place when the lease lapses, so clients that check in and never report cannot keep
 * honest clients out of a round (they could before: four fake check-ins filled the digits task's round).
 * A lapsed client is not given the place back in the same round (or it could hold it for ever by checking
 * in again), but its upload still counts while the round takes updates.
 *
 * In memory, rebuilt from the store's assignments on restart; O(1) amortised per call, since leases are
 * all as long and start in time order (Map keeps insertion order).
 */
export class AssignmentLeases {
  /** Live leases: client id → when it was assigned (ms). Oldest first. */
  private readonly live = new Map<string, number>();

  constructor(readonly leaseMs: number) {}

  assign(clientId: string, at: number): void {
    this.live.delete(clientId);
    this.live.set(clientId, at);
  }

  /** The client reported (or was refused for good): its place is now its update's, or free. */
  release(clientId: string): void {
    this.live.delete(clientId);
  }

  isLive(clientId: string, now: number): boolean {
    this.expire(now);
    return this.live.has(clientId);
  }

  /** Leases still running at `now`. */
  count(now: number): number {
    this.expire(now);
    return this.live.size;
  }

  /** Milliseconds until the oldest live lease lapses (a place frees), or null when none is held. */
  nextLapseInMs(now: number): number | null {
    this.expire(now);
    const oldest = this.live.values().next();
    return oldest.done ? null : oldest.value + this.leaseMs - now;
  }

  clear(): void {
    this.live.clear();
  }

  private expire(now: number): void {
    for (const [clientId, at] of this.live) {
      if (at + this.leaseMs > now) return;
      this.live.delete(clientId);
    }
  }
}
