import { describe, expect, it } from 'vitest';
import { eligible, readConditions, untilEligible, wantedConditions, type DeviceSignals } from './eligibility.ts';

/** Signals a test sets by hand; `set` changes them and fires the change listeners, as the browser's events would. */
function stub(initial: { charging: boolean | null; metered: boolean | null; idle: boolean | null }) {
  const now = { ...initial };
  const listeners = new Set<() => void>();
  const signals: DeviceSignals = {
    charging: async () => now.charging,
    metered: () => now.metered,
    idle: () => now.idle,
    onChange: (l) => (listeners.add(l), () => listeners.delete(l)),
  };
  return { signals, set: (over: Partial<typeof now>) => (Object.assign(now, over), listeners.forEach((l) => l())), listeners };
}

describe('when a device trains', () => {
  it('applies a condition when the task or the person asks for it', () => {
    expect(wantedConditions({ charging: true }, { idle: true, charging: false })).toEqual(['charging', 'idle']);
    expect(wantedConditions(undefined, null)).toEqual([]);
  });

  it('reads each condition: met, unmet, or skipped where the browser has no API', async () => {
    const { signals } = stub({ charging: false, metered: null, idle: true });
    const states = await readConditions(['charging', 'unmetered', 'idle'], signals);
    expect(states).toEqual([
      { name: 'charging', met: false, waitingFor: 'waiting for the charger' },
      { name: 'unmetered', met: null, waitingFor: expect.stringContaining('unmetered') },
      { name: 'idle', met: true, waitingFor: expect.stringContaining('not using') },
    ]);
    expect(eligible(states)).toBe(false);
    // Skipped (null) never blocks: a browser without the Battery API trains.
    expect(eligible(await readConditions(['charging', 'unmetered'], stub({ charging: null, metered: null, idle: null }).signals))).toBe(true);
  });

  it('waits for the charger and goes on when it is plugged in; a metered connection holds it back too', async () => {
    const s = stub({ charging: false, metered: true, idle: true });
    const seen: boolean[] = [];
    let done = false;
    const waiting = untilEligible(['charging', 'unmetered'], s.signals, new AbortController().signal, (states) => seen.push(eligible(states)), 60_000).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(done).toBe(false);
    s.set({ charging: true });
    await new Promise((r) => setTimeout(r, 10));
    expect(done).toBe(false); // still on mobile data
    s.set({ metered: false });
    await waiting;
    expect(seen).toEqual([false, false, true]);
    expect(s.listeners.size).toBe(0);
  });

  it('stops waiting when aborted', async () => {
    const s = stub({ charging: false, metered: null, idle: null });
    const controller = new AbortController();
    const waiting = untilEligible(['charging'], s.signals, controller.signal, () => undefined, 60_000);
    controller.abort();
    await expect(waiting).rejects.toThrow();
  });
});
