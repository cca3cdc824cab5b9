/**
 * The round's state machine, pure: which transitions exist, and which one is due given what the round holds
 * and the time. The runtime (federation.ts) applies them and persists the result.
 *
 *   open ──assignments full──▶ training
 *   open | training ──target reached, or deadline with ≥ min updates──▶ aggregating ──model written──▶ closed
 *   open | training ──deadline with < min updates──▶ closed (failed; the model stays as it was)
 */
import { assertNever } from '../core/validate.ts';
import type { RoundState } from '../core/protocol.ts';

export type RoundEvent =
  | { type: 'assignments-full' }
  | { type: 'quorum' }
  | { type: 'deadline-without-quorum' }
  | { type: 'aggregated' };

/** Clients assigned beyond the target, since some always drop out (Bonawitz et al. 2019 over-select ~130 %). */
export const OVER_SELECTION = 1.3;

export interface RoundSnapshot {
  state: RoundState;
  assigned: number;
  received: number;
  minClients: number;
  targetClients: number;
  deadlineAt: number;
}

export function maxAssignments(targetClients: number): number {
  return Math.ceil(targetClients * OVER_SELECTION);
}

export function acceptsCheckins(r: RoundSnapshot): boolean {
  return r.state === 'open' && r.assigned < maxAssignments(r.targetClients);
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
  if (now >= r.deadlineAt) return r.received >= r.minClients ? { type: 'quorum' } : { type: 'deadline-without-quorum' };
  if (r.state === 'open' && r.assigned >= maxAssignments(r.targetClients)) return { type: 'assignments-full' };
  return null;
}
