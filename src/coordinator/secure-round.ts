/**
 * A secure aggregation round at run time, on the coordinator: the protocol's server side
 * (core/secagg/server.ts) with a deadline per phase. The keys phase closes when the round's target have
 * sent their keys, or at the round's deadline; every later phase when all of the previous phase's clients
 * have answered, or at its own deadline, so a client that closes its tab costs the others one phase
 * deadline at most. Kept in memory only: the coordinator never writes a masked input (let alone an update)
 * to disk, and a restart aborts the round (the model stays; the next round starts afresh).
 */
import type { SecAggParams, SecAggPhase } from '../core/secagg/protocol.ts';
import { SecAggServer, type SecAggResult } from '../core/secagg/server.ts';

export interface SecureRoundStatus {
  phase: SecAggPhase;
  /** Clients that have sent this phase's message. */
  received: number;
  /** When the current phase closes at the latest (ISO 8601). */
  deadline: string;
  /** Why it aborted, when it did. */
  aborted?: string;
  /** Clients at each phase so far: keys, shares, masked, unmask. */
  counts: number[];
}

export class SecureRound {
  readonly server: SecAggServer;
  private phaseDeadline: number;
  private finishing = false;
  private readonly counts: number[] = [];

  constructor(
    readonly params: SecAggParams,
    private readonly o: { targetClients: number; roundDeadlineAt: number; phaseMs: number; now: () => number },
  ) {
    this.server = new SecAggServer(params);
    this.phaseDeadline = o.roundDeadlineAt;
  }

  get phase(): SecAggPhase {
    return this.server.phase;
  }

  status(): SecureRoundStatus {
    const aborted = this.server.aborted;
    return { phase: this.server.phase, received: this.server.received, deadline: new Date(this.phaseDeadline).toISOString(), counts: [...this.counts], ...(aborted ? { aborted } : {}) };
  }

  /**
   * Closes the phase when it is due. Resolves with the sum when the round finishes, with null when it
   * aborted, and with undefined while it goes on.
   */
  async advance(): Promise<SecAggResult | null | undefined> {
    if (this.finishing) return undefined;
    const s = this.server;
    const now = this.o.now();
    const expected = [this.o.targetClients, ...this.counts][this.counts.length]!;
    const allIn = s.received >= expected;
    const due = now >= this.phaseDeadline;
    if (s.phase === 'aborted') return null;
    if (s.phase === 'done' || (!allIn && !due)) return undefined;
    this.counts.push(s.received);
    if (s.phase === 'keys') s.closeKeys();
    else if (s.phase === 'shares') s.closeShares();
    else if (s.phase === 'masked') s.closeMasked();
    else if (s.phase === 'unmask') {
      this.finishing = true;
      try {
        return await s.finish();
      } finally {
        this.finishing = false;
      }
    }
    if ((s.phase as SecAggPhase) === 'aborted') return null;
    this.phaseDeadline = now + this.o.phaseMs;
    return undefined;
  }
}
