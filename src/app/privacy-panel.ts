/**
 * What this person can read about their privacy: the task's guarantee in words (central or local DP, with
 * the current model's ε, and in local mode their own uploads' ε), and what left this device: every upload
 * the coordinator answered, with its bytes, round and each metadata field with its value, as the outbox
 * item recorded them when the frame was made from them (client/traffic.ts keeps them with the person's data).
 */
import type { TaskSummary } from '../core/protocol.ts';
import type { epsilonOf as EpsilonOf } from '../core/privacy/rdp.ts';
import type { CoveyStore } from '../client/store.ts';
import type { TrafficLedger, UploadRecord } from '../client/traffic.ts';
import { $, formatBytes, say } from './dom.ts';

export class PrivacyPanel {
  private task: TaskSummary | undefined;

  constructor(
    private readonly store: CoveyStore,
    private readonly taskId: string,
  ) {}

  show(task: TaskSummary): void {
    this.task = task;
    void this.refresh();
  }

  async refresh(): Promise<void> {
    const ledger = await this.store.traffic(this.taskId);
    // The accountant loads only for a task with local DP, where this person's own ε is computed here.
    const epsilonOf = this.task?.privacy?.mode === 'local' ? await import('../core/privacy/rdp.ts').then((m) => m.epsilonOf, () => undefined) : undefined;
    say('privacy', this.task ? privacyStatement(this.task, ledger, epsilonOf) : '');
    const uploads = ledger.uploads ?? [];
    say('uploads-summary', uploads.length === 0 ? 'nothing yet' : `${uploads.length} update${uploads.length === 1 ? '' : 's'}, the latest in round ${uploads.at(-1)!.roundId}`);
    $('uploads').replaceChildren(...[...uploads].reverse().map((u) => Object.assign(document.createElement('li'), { textContent: uploadLine(u) })));
  }
}

/** "Round 4: 82.1 kB (f32; the model delta 81.9 kB), accepted. Fields: clientId = …, baseVersion = 3, …" */
export function uploadLine(u: UploadRecord): string {
  const fields = Object.entries(u.meta).map(([k, v]) => `${k} = ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  return `Round ${u.roundId}, ${new Date(u.at).toLocaleTimeString()}: ${formatBytes(u.bytes)} (${u.codec}; the model delta ${formatBytes(u.payloadBytes)}), ${u.outcome}. Fields: ${fields.join(', ')}`;
}

/** What a differentially private task guarantees, in words; nothing for a task without privacy. */
export function privacyStatement(t: TaskSummary, ledger: TrafficLedger, epsilonOf?: typeof EpsilonOf): string {
  const p = t.privacy;
  if (!p) return '';
  const models = p.epsilon === null ? 'no guarantee yet (ε unbounded)' : p.epsilon === 0 ? 'no model trained with your updates yet' : `(ε = ${p.epsilon.toFixed(2)}, δ = ${p.delta}) differentially private`;
  const spent = p.budgetSpent ? ` Its privacy budget (ε ≤ ${p.maxEpsilon}) is spent: it trains no more.` : '';
  const clip = `clipped to norm ${p.clipNorm.toPrecision(3)}${p.adaptiveClipping ? ' (this round’s; it follows the median of update norms)' : ''}`;
  if (p.mode === 'local') {
    // Each upload that reached the coordinator composes, refused ones too; q = 1, and the multiplier halves (any two updates may be compared).
    const sent = Object.values(ledger.byCodec).reduce((n, c) => n + c.updates, 0) + (ledger.refused ?? 0);
    const epsilon = epsilonOf ? fmt(epsilonOf({ q: 1, noise: p.noiseMultiplier / 2, rounds: sent, delta: p.delta }).epsilon) : '…';
    const own = sent === 0 ? 'none sent yet' : `your ${sent} upload${sent === 1 ? ' is' : 's are together'} (ε = ${epsilon}, δ = ${p.delta}) differentially private against anyone, the coordinator included`;
    return `Local differential privacy: your update is ${clip} and noised on this device before it leaves: ${own}; every model of this task is ${models} even for people who took part in every round.${spent}`;
  }
  return `Differential privacy: your update is ${clip} on this device and the coordinator adds noise to the sum; every model of this task is ${models}, assuming people take part at random (see README).${spent}`;
}

const fmt = (e: number): string => (Number.isFinite(e) ? e.toFixed(2) : '∞');
