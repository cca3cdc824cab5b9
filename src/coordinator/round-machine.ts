/**
 * The round's state machine, pure: which transitions exist, and which one is due given what the round holds
 * and the time. The runtime (federation.ts) applies them and persists the result.
 *
 *   open ──places full──▶ training ──a lease lapsed──▶ open
 *   open | training ──target reached, or deadline with ≥ min updates──▶ aggregating ──model written──▶ closed
 *   open | training ──deadline with < min updates──▶ closed (failed; the model stays as it was)
 *
 * A round's clock starts with its first client: at its deadline, a round no client has come to stays open
 * (an idle coordinator opens and fails no rounds), and the first check-in or upload starts the deadline again.
 *
 * Buffered aggregation (FedBuff) uses the same states with one rule: a buffer aggregates when it holds its
 * target (K) of updates, and has no deadline and no places (the coordinator limits how many train at once).
 *
 * A round has ⌈1.3 × target⌉ places. An update received holds one for good; an assignment holds one only
 * while its lease runs (assignment-leases.ts), so silent clients cannot fill a round. Uploads are not
 * limited by places: the round is decided by the first updates that pass validation, assigned or not.
 */
import { assertNever } from '../core/validate.ts';
import type { RoundState } from '../core/protocol.ts';

export type RoundEvent =
  | { type: 'assignments-full' }
  | { type: 'assignments-lapsed' }
  | { type: 'quorum' }
  | { type: 'deadline-without-quorum' }
  | { type: 'aggregated' };

/** Clients assigned beyond the target, since some always drop out (Bonawitz et al. 2019 over-select ~130 %). */
export const OVER_SELECTION = 1.3;

export interface RoundSnapshot {
  state: RoundState;
  /** Assignments whose lease still runs and whose client has not reported. */
  liveAssigned: number;
  received: number;
  /** Clients that ever held a place in the round (or sent an update to it). */
  assigned: number;
  /** A buffer of buffered aggregation rather than a synchronous round. */
  buffered: boolean;
  minClients: number;
  targetClients: number;
  deadlineAt: number;
}

export function maxAssignments(targetClients: number): number {
  return Math.ceil(targetClients * OVER_SELECTION);
}

/** Places held: by updates received, and by assignments whose lease runs. */
export function placesHeld(r: RoundSnapshot): number {
  return r.received + r.liveAssigned;
}

export function acceptsCheckins(r: RoundSnapshot): boolean {
  return r.state === 'open' && placesHeld(r) < maxAssignments(r.targetClients);
}

export function acceptsUploads(state: RoundState): boolean {
  return state === 'open' || state === 'training';
}

/** The state after `event`; throws for a transition the machine does not have. */
export function transition(state: RoundState, event: RoundEvent): RoundState {
  switch (event.type) {
    case 'assignments-full':
      if (state === 'open') return 'training';
      break;
    case 'assignments-lapsed':
      if (state === 'training') return 'open';
      break;
    case 'quorum':
      if (acceptsUploads(state)) return 'aggregating';
      break;
    case 'deadline-without-quorum':
      if (acceptsUploads(state)) return 'closed';
      break;
    case 'aggregated':
      if (state === 'aggregating') return 'closed';
      break;
    default:
      return assertNever(event);
  }
  throw new Error(`round cannot take "${event.type}" in state "${state}"`);
}

/** The event due now, if any. Aggregation wins over closing on assignments. */
export function dueEvent(r: RoundSnapshot, now: number): RoundEvent | null {
  if (!acceptsUploads(r.state)) return null;
  if (r.received >= r.targetClients) return { type: 'quorum' };
  if (r.buffered) return null;
  if (now >= r.deadlineAt) {
    if (r.received >= r.minClients) return { type: 'quorum' };
    // Nobody came: the round waits for its first client rather than fail and open another just like it.
    return r.assigned === 0 ? null : { type: 'deadline-without-quorum' };
  }
  const full = placesHeld(r) >= maxAssignments(r.targetClients);
  if (r.state === 'open' && full) return { type: 'assignments-full' };
  if (r.state === 'training' && !full) return { type: 'assignments-lapsed' };
  return null;
}
