/**
 * Secure aggregation in the simulator: a round's clients run the protocol's client side (core/secagg)
 * against the coordinator's own Federation in memory, as browsers do over HTTP, and some of them drop out at
 * a random phase. It counts what would travel (each message's body, both ways) and the time each side
 * spends, so `npm run sim -- --secagg --dropout 0.3` and bench/secagg.ts can set them against plaintext.
 */
import { SecAggClient } from '../core/secagg/client.ts';
import type { SecAggParams } from '../core/secagg/protocol.ts';
import type { Federation } from '../coordinator/federation.ts';

export type SecurePhase = 'keys' | 'shares' | 'masked' | 'unmask';
export const SECURE_PHASES: readonly SecurePhase[] = ['keys', 'shares', 'masked', 'unmask'];
const PHASES = SECURE_PHASES;

export interface SecureInput {
  clientId: string;
  params: SecAggParams;
  update: Float32Array;
}

export interface SecureRoundReport {
  /** The phase each dropped client stopped before. */
  dropped: Partial<Record<SecurePhase, number>>;
  /** Mean bytes a client that stayed sent, and received (roster, inbox, survivors). */
  bytesUp: number;
  bytesDown: number;
  /** Mean milliseconds of protocol work per client that stayed, and the coordinator's in all. */
  clientMs: number;
  coordinatorMs: number;
  completed: boolean;
}

const json = (v: unknown) => JSON.stringify(v).length;

/**
 * Runs the round to its end: every phase's messages, then the clock past the phase's deadline when someone
 * is missing. `dropAt` says where a client stops (undefined: it stays to the end).
 */
export async function runSecureRound(federation: Federation, inputs: SecureInput[], dropAt: (clientId: string) => SecurePhase | undefined, clock: { now: number; jump(to: number): void }): Promise<SecureRoundReport> {
  const clients = inputs.map((i) => ({ ...i, client: new SecAggClient(i.params, i.clientId), drop: dropAt(i.clientId), up: 0, down: 0, ms: 0 }));
  const roundId = inputs[0]!.params.roundId;
  const versionBefore = federation.modelVersion;
  let coordinatorMs = 0;
  const stays = (c: (typeof clients)[number], phase: SecurePhase) => c.drop === undefined || PHASES.indexOf(c.drop) > PHASES.indexOf(phase);
  /** Runs `work` and adds its milliseconds to what `spent` is given. */
  const measure = async <T>(spent: (ms: number) => void, work: () => Promise<T> | T): Promise<T> => {
    const t = performance.now();
    const out = await work();
    spent(performance.now() - t);
    return out;
  };
  const timed = <T>(c: (typeof clients)[number], work: () => Promise<T> | T) => measure((ms) => (c.ms += ms), work);
  const coordinator = <T>(work: () => Promise<T> | T) => measure((ms) => (coordinatorMs += ms), work);
  /** Ends a phase: at once when everyone expected answered, else at its deadline. */
  const close = async () => {
    const before = statusOr(federation, roundId)?.phase;
    await coordinator(() => federation.settle());
    const now = statusOr(federation, roundId);
    if (now && now.phase === before) {
      clock.jump(Date.parse(now.deadline));
      await coordinator(() => federation.settle());
    }
  };

  for (const c of clients.filter((c) => stays(c, 'keys'))) {
    const m = await timed(c, () => c.client.keys());
    c.up += json(m);
    await coordinator(() => federation.secureKeys(roundId, m));
  }
  await close();
  if (statusOr(federation, roundId)?.phase === 'shares') {
    for (const c of clients.filter((c) => stays(c, 'shares'))) {
      const roster = await coordinator(() => federation.secureRoster(roundId, c.clientId));
      c.down += json(roster);
      const m = await timed(c, () => c.client.shares(roster));
      c.up += json(m);
      await coordinator(() => federation.secureShares(roundId, m));
    }
    await close();
  }
  if (statusOr(federation, roundId)?.phase === 'masked') {
    for (const c of clients.filter((c) => stays(c, 'masked'))) {
      const inbox = await coordinator(() => federation.secureInbox(roundId, c.clientId));
      c.down += json(inbox);
      const masked = await timed(c, () => c.client.maskedInput(inbox, c.update));
      c.up += masked.byteLength;
      await coordinator(() => federation.secureMasked(roundId, c.clientId, masked));
    }
    await close();
  }
  if (statusOr(federation, roundId)?.phase === 'unmask') {
    for (const c of clients.filter((c) => stays(c, 'unmask'))) {
      const survivors = await coordinator(() => federation.secureSurvivors(roundId, c.clientId));
      c.down += json(survivors);
      const m = await timed(c, () => c.client.unmask(survivors));
      c.up += json(m);
      await coordinator(() => federation.secureUnmask(roundId, m));
    }
    await close();
  }
  const stayed = clients.filter((c) => c.drop === undefined);
  const mean = (f: (c: (typeof clients)[number]) => number) => (stayed.length ? stayed.reduce((s, c) => s + f(c), 0) / stayed.length : 0);
  const dropped: Partial<Record<SecurePhase, number>> = {};
  for (const c of clients) if (c.drop) dropped[c.drop] = (dropped[c.drop] ?? 0) + 1;
  return { dropped, bytesUp: mean((c) => c.up), bytesDown: mean((c) => c.down), clientMs: mean((c) => c.ms), coordinatorMs, completed: federation.modelVersion > versionBefore };
}

/** The secure round's status, or null once the round has closed (a new round has its own). */
function statusOr(federation: Federation, roundId: number) {
  try {
    return federation.secureStatus(roundId);
  } catch {
    return null;
  }
}
