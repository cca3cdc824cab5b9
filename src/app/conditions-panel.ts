/**
 * "When this device trains": the person's choice of conditions (only while charging, on an unmetered
 * connection, while they are not using the page), kept with their settings; which ones the task asks for
 * too; which ones this browser cannot tell (and so skips); and what the device waits for now.
 */
import type { TaskSummary } from '../core/protocol.ts';
import type { CoveyStore } from '../client/store.ts';
import { CONDITION_NAMES, CONDITIONS_SETTING, type ConditionName, type ConditionState } from '../client/eligibility.ts';
import { isTrainingConditions } from '../client/conditions-setting.ts';
import { $, say } from './dom.ts';

const LABELS: Record<ConditionName, string> = {
  charging: 'only while charging',
  unmetered: 'only on an unmetered connection (not mobile data, not Data Saver)',
  idle: 'only while I am not using this page',
};

/** Whether this browser can tell the condition at all (else it is skipped). */
function supported(name: ConditionName): boolean {
  if (name === 'charging') return 'getBattery' in navigator;
  if (name === 'unmetered') return 'connection' in navigator;
  return true;
}

export class ConditionsPanel {
  private task: TaskSummary | undefined;

  constructor(private readonly store: CoveyStore) {}

  async start(): Promise<void> {
    const mine = (await this.store.setting(CONDITIONS_SETTING, isTrainingConditions)) ?? {};
    const list = $('conditions-list');
    list.replaceChildren(
      ...CONDITION_NAMES.map((name) => {
        const item = document.createElement('li');
        const box = Object.assign(document.createElement('input'), { type: 'checkbox', id: `condition-${name}`, checked: mine[name] === true });
        box.dataset.testid = `condition-${name}`;
        box.addEventListener('change', () => void this.save());
        const label = Object.assign(document.createElement('label'), { htmlFor: box.id, textContent: ` Train ${LABELS[name]}` });
        const note = Object.assign(document.createElement('span'), { className: 'muted small', id: `condition-${name}-note` });
        note.dataset.testid = `condition-${name}-note`;
        item.append(box, label, note);
        return item;
      }),
    );
    this.notes();
  }

  /** The task's own asks (it may ask for a condition the person did not). */
  showTask(task: TaskSummary): void {
    this.task = task;
    this.notes();
  }

  /** What the client last read: "charging: waiting for the charger · unmetered: skipped". */
  showStates(states: ConditionState[]): void {
    say('conditions', states.length === 0 ? 'Trains whenever it is joined.' : states.map((s) => `${s.name}: ${s.met === null ? 'skipped (this browser cannot tell)' : s.met ? 'yes' : s.waitingFor}`).join(' · '));
  }

  private async save(): Promise<void> {
    const chosen = Object.fromEntries(CONDITION_NAMES.map((name) => [name, $<HTMLInputElement>(`condition-${name}`).checked]));
    await this.store.putSetting(CONDITIONS_SETTING, chosen);
    this.notes();
  }

  private notes(): void {
    for (const name of CONDITION_NAMES) {
      const parts = [];
      if (this.task?.conditions?.[name]) parts.push('the task asks for this');
      if (!supported(name)) parts.push('this browser cannot tell, so it is skipped');
      say(`condition-${name}-note`, parts.length ? ` (${parts.join('; ')})` : '');
    }
  }
}
