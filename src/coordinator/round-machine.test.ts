import { describe, expect, it } from 'vitest';
import { acceptsCheckins, dueEvent, maxAssignments, transition, type RoundSnapshot } from './round-machine.ts';

const round = (over: Partial<RoundSnapshot> = {}): RoundSnapshot => ({
  state: 'open',
  liveAssigned: 0,
  received: 0,
  assigned: 1,
  buffered: false,
  minClients: 2,
  targetClients: 3,
  deadlineAt: 1_000,
  ...over,
});

describe('round state machine', () => {
  it('goes open → training → aggregating → closed', () => {
    let s = transition('open', { type: 'assignments-full' });
    expect(s).toBe('training');
    s = transition(s, { type: 'quorum' });
    expect(s).toBe('aggregating');
    expect(transition(s, { type: 'aggregated' })).toBe('closed');
  });

  it('refuses transitions it does not have', () => {
    expect(() => transition('closed', { type: 'quorum' })).toThrow(/cannot take "quorum" in state "closed"/);
    expect(() => transition('training', { type: 'assignments-full' })).toThrow();
    expect(() => transition('open', { type: 'aggregated' })).toThrow();
  });

  it('aggregates as soon as the target is reached, before the deadline', () => {
    expect(dueEvent(round({ received: 3 }), 0)).toEqual({ type: 'quorum' });
    expect(dueEvent(round({ received: 2, liveAssigned: 1 }), 0)).toBeNull();
  });

  it('at the deadline, aggregates with at least min updates and fails with fewer', () => {
    expect(dueEvent(round({ received: 2 }), 1_000)).toEqual({ type: 'quorum' });
    expect(dueEvent(round({ received: 1 }), 1_000)).toEqual({ type: 'deadline-without-quorum' });
  });

  it('over-selects by 30 % and stops assigning when full', () => {
    expect(maxAssignments(3)).toBe(4);
    expect(maxAssignments(100)).toBe(130);
    expect(acceptsCheckins(round({ liveAssigned: 3 }))).toBe(true);
    expect(acceptsCheckins(round({ liveAssigned: 4 }))).toBe(false);
    expect(acceptsCheckins(round({ liveAssigned: 2, received: 2 }))).toBe(false);
    expect(dueEvent(round({ liveAssigned: 4 }), 0)).toEqual({ type: 'assignments-full' });
    expect(acceptsCheckins(round({ state: 'training' }))).toBe(false);
  });

  it('opens again when a silent client\'s lease lapses and frees its place', () => {
    expect(dueEvent(round({ state: 'training', liveAssigned: 3 }), 0)).toEqual({ type: 'assignments-lapsed' });
    expect(transition('training', { type: 'assignments-lapsed' })).toBe('open');
    expect(() => transition('open', { type: 'assignments-lapsed' })).toThrow();
    expect(dueEvent(round({ state: 'training', liveAssigned: 2, received: 2 }), 0)).toBeNull();
  });

  it('keeps a round nobody came to open past its deadline, and fails one whose clients did not report', () => {
    expect(dueEvent(round({ assigned: 0 }), 1_000_000)).toBeNull();
    expect(dueEvent(round({ assigned: 1 }), 1_000)).toEqual({ type: 'deadline-without-quorum' });
  });

  it('aggregates a buffer when it holds K updates, and never on a deadline or places', () => {
    const buffer = (over: Partial<RoundSnapshot>) => round({ buffered: true, minClients: 3, ...over });
    expect(dueEvent(buffer({ received: 2, assigned: 9, liveAssigned: 9 }), 1e9)).toBeNull();
    expect(dueEvent(buffer({ received: 3 }), 0)).toEqual({ type: 'quorum' });
  });

  it('has nothing due once a round stops taking updates', () => {
    expect(dueEvent(round({ state: 'aggregating', received: 9 }), 5_000)).toBeNull();
    expect(dueEvent(round({ state: 'closed' }), 5_000)).toBeNull();
  });
});
