/**
 * "Federated training": join and leave (remembered across reloads, so a reload mid-round resumes), what the
 * client is doing, the backend, the outbox, and the global model's accuracy per version.
 */
import type { HistoryPoint, TaskSummary } from '../core/protocol.ts';
import type { CoordinatorApi } from '../client/coordinator-api.ts';
import type { FederationClient, FederationEvent, Trainer } from '../client/federation-client.ts';
import type { DeliveryEvent, Outbox } from '../client/outbox.ts';
import type { CoveyStore } from '../client/store.ts';
import type { TrafficLedger } from '../client/traffic.ts';
import type { ConditionState } from '../client/eligibility.ts';
import { $, errorText, formatBytes, log, say } from './dom.ts';

export interface FederationPanelOptions {
  api: CoordinatorApi;
  store: CoveyStore;
  bridge: Trainer;
  outbox: Outbox;
  taskId: string;
  /** Called when the client learns something about the task (online or from the offline copy). */
  onTask: (task: TaskSummary) => void;
  /** Called when an update was put in the outbox while the device may be offline. */
  onQueued: () => void;
  /** Called when the traffic ledger changed (an upload answered, a model received). */
  onTraffic?: () => void;
  /** Called with what the client read of the conditions it trains under. */
  onConditions?: (states: ConditionState[]) => void;
}

const JOINED = 'joined';
const isBoolean = (v: unknown): v is boolean => typeof v === 'boolean';

export class FederationPanel {
  private session: AbortController | undefined;
  /** Set while join() decides: a double click, or a click while resume() runs, starts one session only. */
  private joining = false;
  /** Set once everything is being deleted: no session may start after that. */
  private closed = false;
  private contributions = 0;

  constructor(private readonly o: FederationPanelOptions) {
    $('join').addEventListener('click', () => void (this.session ? this.leave() : this.join()));
  }

  /** Rejoins if the person had joined before this page loaded (a reload, a closed tab, a restart). */
  async resume(): Promise<void> {
    if (await this.o.store.setting(JOINED, isBoolean)) await this.join();
  }

  async join(): Promise<void> {
    if (this.session || this.joining || this.closed) return;
    this.joining = true;
    try {
      if ((await this.o.store.count(this.o.taskId)) === 0) {
        say('phase', 'Add some examples first: draw digits or load sample data.');
        return;
      }
      if (this.closed) return;
      await this.o.store.putSetting(JOINED, true);
    } finally {
      this.joining = false;
    }
    if (this.closed) return;
    const session = (this.session = new AbortController());
    $('join').textContent = 'Leave';
    // The round loop (codecs, privacy, the update frame) loads at the first Join, not with the page.
    let Client: typeof FederationClient;
    try {
      ({ FederationClient: Client } = await import('../client/federation-client.ts'));
    } catch (e) {
      // A chunk this page no longer finds (a new deployment replaced it): say so rather than hang on "Leave".
      log(`Could not load the round loop: ${errorText(e)}; reload the page`);
      if (this.session === session) this.stopped('Stopped: reload the page to join.');
      return;
    }
    if (this.session !== session || session.signal.aborted) return;
    const client = new Client({ ...this.o, onEvent: (e) => this.show(e) });
    client.run(session.signal).catch((e: unknown) => {
      log(`Stopped: ${errorText(e)}`);
      if (this.session === session) this.stopped('Stopped.');
    });
  }

  /** Leaves for good: for "delete everything", which must not race a join that is still deciding. */
  async close(): Promise<void> {
    this.closed = true;
    await this.leave();
  }

  async leave(): Promise<void> {
    await this.o.store.putSetting(JOINED, false);
    this.session?.abort(new DOMException('Left the federation', 'AbortError'));
    this.stopped('Not joined.');
    // What waits in the outbox is still sent, on the outbox's own schedule.
    void this.o.outbox
      .deliver()
      .then(() => this.refreshOutbox())
      .catch(() => undefined); // the store may be closing (delete everything)
  }

  /** Outbox deliveries, wherever they happen (this page, or the service worker's Background Sync). */
  onDelivery(e: DeliveryEvent, where = ''): void {
    const round = `Round ${e.item.roundId}${where ? ` (${where})` : ''}`;
    if (e.type === 'delivered') {
      this.contributions += 1;
      say('contributions', String(this.contributions));
      const stale = e.stale && e.stale.versions > 0 ? `; the model had moved ${e.stale.versions} version${e.stale.versions === 1 ? '' : 's'} on since it was trained, so it counts at ${e.stale.weight.toFixed(2)} of a fresh update` : '';
      log(`${round}: update delivered${e.duplicate ? ' (it had arrived before; counted once)' : ''}${stale}`);
    } else if (e.type === 'rejected') {
      log(`${round}: update not accepted: ${e.reason}`);
    } else {
      log(`${round}: sending failed (${e.reason}); next try at ${new Date(e.at).toLocaleTimeString()}`);
    }
    void this.refreshOutbox();
    void this.refreshTraffic();
  }

  /** Bytes sent and received, for the latest round and in total, by codec and by the way the model came. */
  async refreshTraffic(): Promise<void> {
    const ledger = await this.o.store.traffic(this.o.taskId);
    say('traffic', trafficSummary(ledger));
    const lines = [
      ...Object.entries(ledger.byCodec).map(([codec, c]) => `Sent ${formatBytes(c.sentBytes)} in ${c.updates} update${c.updates === 1 ? '' : 's'} encoded as ${codec}`),
      ...Object.entries(ledger.byVia).map(([via, v]) => `Received ${formatBytes(v.receivedBytes)} for ${v.downloads} model${v.downloads === 1 ? '' : 's'} ${VIA_TEXT[via as keyof typeof VIA_TEXT]}`),
    ];
    $('traffic-detail').replaceChildren(...lines.map((text) => Object.assign(document.createElement('li'), { textContent: text })));
    this.o.onTraffic?.();
  }

  async refreshOutbox(): Promise<void> {
    const items = await this.o.outbox.pending();
    say('outbox-count', String(items.length));
    $('outbox').replaceChildren(
      ...items.map((item) => {
        const li = document.createElement('li');
        const when = item.attempts === 0 ? 'not tried yet' : `${item.attempts} tries, next after ${new Date(item.nextAttemptAt).toLocaleTimeString()}`;
        li.textContent = `Update for round ${item.roundId}, ${formatBytes(item.frame.byteLength)}: ${when}${item.lastError ? ` (${item.lastError})` : ''}`;
        return li;
      }),
    );
  }

  /** The task's headline metric (its first) per model version, and its latest value. */
  async refreshHistory(task: TaskSummary): Promise<void> {
    const metric = task.metrics[0] ?? 'accuracy';
    const history: HistoryPoint[] = await this.o.api.history(this.o.taskId);
    // The chart's code loads with the first history, just after the page.
    const { metricText, renderMetricChart } = await import('./metric-chart.ts');
    renderMetricChart($<SVGSVGElement>('chart'), history, metric);
    say('metric-name', `Held-out ${metric === 'auc' ? 'AUC' : metric}`);
    const federated = metric === 'accuracy' && history.some((p) => p.federated);
    say('chart-caption', `Held-out ${metric === 'auc' ? 'ROC AUC' : metric} of each global model, measured by the coordinator on examples no client holds${federated ? ' (solid), and by the people taking part on their own held-out examples (dashed)' : ''}.`);
    const last = history.filter((p) => p.metrics[metric] !== undefined).at(-1);
    if (last) say('accuracy', metricText(metric, last.metrics[metric]!));
    else if (federated && !history.some((p) => p.metrics[metric] !== undefined)) {
      // No held-out set on the coordinator: the people's own held-out examples are the only measure.
      const fed = history.filter((p) => p.federated).at(-1)!.federated!;
      say('metric-name', 'Accuracy on people\'s held-out examples');
      say('accuracy', metricText('accuracy', fed.accuracy));
      say('chart-caption', 'Accuracy of each global model on the examples the people taking part hold out (the coordinator has no held-out set of its own).');
    }
  }

  private stopped(message: string): void {
    this.session = undefined;
    $('join').textContent = 'Join';
    say('phase', message);
    $<HTMLProgressElement>('progress').value = 0;
  }

  private show(e: FederationEvent): void {
    switch (e.type) {
      case 'phase':
        say('phase', e.message);
        if (e.phase !== 'training') $<HTMLProgressElement>('progress').value = 0;
        break;
      case 'backend': {
        const { backend, detail, fallbacks } = e.report;
        say('backend', `backend: ${backend}`);
        $('backend').dataset.backend = backend;
        $('backend').title = detail ?? '';
        say('fallbacks', fallbacks.map((f) => `${f.backend} not used: ${f.reason}`).join(' · '));
        // How it was chosen, in words, loads with the first report (events keep their order: one module promise).
        void import('./backend-text.ts').then(({ describeChoice }) => {
          const choice = describeChoice(e.report);
          say('backend-choice', choice);
          $('backend').dataset.chosenBy = e.report.probe?.chosenBy ?? '';
          log(e.report.probe ? `Training on ${backend}${detail ? ` (${detail})` : ''}: ${choice}` : `Started on ${backend}${detail ? ` (${detail})` : ''}; the fastest backend for the task's model is settled at the first round`);
        }, (err: unknown) => log(`Could not describe the backend: ${errorText(err)}`));
        break;
      }
      case 'task':
        this.o.onTask(e.task);
        break;
      case 'model':
        log(`Round ${e.roundId}: model v${e.modelVersion} ${e.via === 'held' ? 'was already on this device' : `received ${VIA_TEXT[e.via]}, ${formatBytes(e.bytes)}`}`);
        void this.refreshTraffic();
        break;
      case 'round':
        say('round', String(e.roundId));
        log(`${e.offline ? 'Offline: training for' : 'Assigned to'} round ${e.roundId} (model v${e.modelVersion})`);
        break;
      case 'progress':
        $<HTMLProgressElement>('progress').value = e.fraction;
        say('phase', `Training: epoch ${e.epoch}/${e.epochs}, loss ${e.loss.toFixed(3)}`);
        break;
      case 'aggregated':
        this.contributions += 1;
        say('contributions', String(this.contributions));
        log(`Round ${e.roundId}: your update is in the securely aggregated sum of ${e.survivors} (${formatBytes(e.bytes)} masked sent; the coordinator never saw it alone)`);
        void this.refreshTraffic();
        break;
      case 'queued':
        log(`Round ${e.roundId}: trained on ${e.numExamples} examples in ${(e.trainMs / 1000).toFixed(1)} s, loss ${e.loss.toFixed(3)}; ${formatBytes(e.bytes)} update (${e.codec}) ready to send`);
        if (e.heldOut) log(`The model you received got ${(e.heldOut.accuracy * 100).toFixed(1)} % of your ${e.heldOut.count} held-out examples right (they are never trained on)`);
        if (e.heldOut?.personalAccuracy !== undefined) {
          say('personal', `Your model: ${(e.heldOut.personalAccuracy * 100).toFixed(0)} % on your ${e.heldOut.count} held-out examples; the shared model: ${(e.heldOut.accuracy * 100).toFixed(0)} %.`);
        }
        void this.refreshOutbox();
        this.o.onQueued();
        break;
      case 'conditions':
        this.o.onConditions?.(e.states);
        break;
      case 'error':
        log(`Problem: ${e.message}`);
        break;
    }
  }
}

const VIA_TEXT = { held: 'already on this device', delta: 'as a difference from the version this device had', full: 'whole' } as const;

function trafficSummary(l: TrafficLedger): string {
  const last = l.rounds.at(-1);
  const total = `in total ${formatBytes(l.sentBytes)} sent, ${formatBytes(l.receivedBytes)} received`;
  if (!last) return total;
  return `round ${last.roundId}: ${formatBytes(last.sentBytes)} sent${last.codec ? ` (${last.codec})` : ''}, ${formatBytes(last.receivedBytes)} received; ${total}`;
}
