/**
 * When a device trains (Bonawitz et al. 2019 train only on idle, charging, unmetered phones): a task, and
 * the person in the app's settings, may ask to train only while charging, on an unmetered connection, and
 * while the person is not using the page. Either one asking is enough for a condition to apply.
 *
 *   charging     Battery Status API: `navigator.getBattery()`, `charging` (Chromium; not Firefox or Safari)
 *   unmetered    Network Information API: not `saveData`, and `type` not `cellular` (Chromium; `type` on
 *                Android only, so a desktop counts as unmetered unless Data Saver is on)
 *   idle         the page is hidden, or no key, pointer or touch input for a minute (no permission needed,
 *                unlike the Idle Detection API)
 *
 * A condition whose API the browser lacks is skipped, never a reason to wait for ever, and is reported as
 * skipped so the app can say so.
 */

import type { ConditionName, TrainingConditions } from './conditions-setting.ts';

export { CONDITIONS_SETTING, type ConditionName, type TrainingConditions } from './conditions-setting.ts';
export const CONDITION_NAMES: readonly ConditionName[] = ['charging', 'unmetered', 'idle'];

export interface ConditionState {
  name: ConditionName;
  /** Met now; null when the browser cannot tell (skipped). */
  met: boolean | null;
  /** What the device waits for, for the person: "waiting for the charger". */
  waitingFor: string;
}

/** What the conditions are read from: the browser's APIs, or stubs in tests and Node. Null: the API is missing. */
export interface DeviceSignals {
  charging(): Promise<boolean | null>;
  metered(): boolean | null;
  /** Hidden or no input lately; null where there is no page (a worker, Node). */
  idle(now: number): boolean | null;
  /** Calls `listener` when any of them may have changed; returns how to stop. */
  onChange(listener: () => void): () => void;
}

const WAITING_FOR: Record<ConditionName, string> = {
  charging: 'waiting for the charger',
  unmetered: 'waiting for an unmetered connection (Wi-Fi, no Data Saver)',
  idle: 'waiting until you are not using the page',
};

/** How long without input counts as idle. */
export const IDLE_AFTER_MS = 60_000;

export function wantedConditions(...asks: (TrainingConditions | null | undefined)[]): ConditionName[] {
  return CONDITION_NAMES.filter((name) => asks.some((a) => a?.[name] === true));
}

export async function readConditions(wanted: readonly ConditionName[], signals: DeviceSignals, now = Date.now()): Promise<ConditionState[]> {
  const states: ConditionState[] = [];
  for (const name of wanted) {
    const met = name === 'charging' ? await signals.charging() : name === 'unmetered' ? invert(signals.metered()) : signals.idle(now);
    states.push({ name, met, waitingFor: WAITING_FOR[name] });
  }
  return states;
}

/** Eligible when every condition asked for is met or cannot be told (skipped). */
export const eligible = (states: readonly ConditionState[]): boolean => states.every((s) => s.met !== false);

/**
 * Resolves once every wanted condition is met or skipped; `report` hears each reading (for the app's line).
 * Re-reads on the signals' change events and every `pollMs` (idle turns true by time alone).
 */
export async function untilEligible(wanted: readonly ConditionName[], signals: DeviceSignals, signal: AbortSignal, report: (states: ConditionState[]) => void, pollMs = 5_000): Promise<void> {
  for (;;) {
    signal.throwIfAborted();
    const states = await readConditions(wanted, signals);
    report(states);
    if (eligible(states)) return;
    await new Promise<void>((resolve) => {
      const stop = signals.onChange(done);
      const timer = setTimeout(done, pollMs);
      signal.addEventListener('abort', done, { once: true });
      if (signal.aborted) done();
      function done() {
        stop();
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
    });
  }
}

const invert = (v: boolean | null): boolean | null => (v === null ? null : !v);

interface BatteryLike extends EventTarget {
  charging: boolean;
}
interface ConnectionLike extends EventTarget {
  saveData?: boolean;
  type?: string;
}

/** The browser's own signals (page or worker); input is watched from the first call on. */
export function browserSignals(): DeviceSignals {
  const nav = (typeof navigator === 'undefined' ? undefined : navigator) as (Navigator & { getBattery?: () => Promise<BatteryLike>; connection?: ConnectionLike }) | undefined;
  const battery = nav?.getBattery ? nav.getBattery().catch(() => null) : Promise.resolve(null);
  const hasPage = typeof document !== 'undefined';
  let lastInput = Date.now();
  if (hasPage) for (const type of ['keydown', 'pointerdown', 'pointermove', 'touchstart', 'wheel']) addEventListener(type, () => (lastInput = Date.now()), { passive: true, capture: true });
  return {
    charging: async () => (await battery)?.charging ?? null,
    metered: () => {
      const c = nav?.connection;
      if (!c) return null;
      return c.saveData === true || c.type === 'cellular';
    },
    idle: (now) => (hasPage ? document.visibilityState === 'hidden' || now - lastInput >= IDLE_AFTER_MS : null),
    onChange: (listener) => {
      let stopped = false;
      const stops: (() => void)[] = [() => (stopped = true)];
      const on = (target: EventTarget | undefined | null, type: string) => {
        if (!target) return;
        target.addEventListener(type, listener);
        stops.push(() => target.removeEventListener(type, listener));
      };
      void battery.then((b) => stopped || on(b, 'chargingchange'));
      on(nav?.connection, 'change');
      if (hasPage) on(document, 'visibilitychange');
      return () => stops.forEach((s) => s());
    },
  };
}
