/**
 * Operator metrics through prom-client, in the Prometheus text exposition format, served at /metrics (behind
 * the operator token, or on a port of their own: see server.ts): Covey's counters, histograms and gauges,
 * and Node's default process metrics (CPU, memory, event-loop lag, handles, GC).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

type Labels = Readonly<Record<string, string>>;

const LATENCY_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** Update norms span orders of magnitude between models: log-spaced buckets. */
const NORM_BUCKETS = [0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100, 300, 1000];

interface Family {
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  labels: readonly string[];
  buckets?: readonly number[];
}

export const FAMILIES = {
  covey_checkins_total: { help: 'Check-ins answered, by task and answer (assigned, wait).', type: 'counter', labels: ['task', 'status'] },
  covey_updates_accepted_total: { help: 'Updates accepted (duplicates of accepted updates excluded).', type: 'counter', labels: ['task'] },
  covey_updates_duplicate_total: { help: 'Repeated uploads of accepted updates, answered without counting them again.', type: 'counter', labels: ['task'] },
  covey_updates_refused_total: { help: 'Updates refused, by reason (the error code in the answer).', type: 'counter', labels: ['task', 'reason'] },
  covey_update_bytes_total: { help: 'Bytes of accepted update bodies, by task and codec.', type: 'counter', labels: ['task', 'codec'] },
  covey_model_bytes_sent_total: { help: 'Bytes of model bodies sent, by task and kind (full: weights.bin; delta: a model delta).', type: 'counter', labels: ['task', 'kind'] },
  covey_rounds_closed_total: { help: 'Rounds closed, by outcome (aggregated, failed).', type: 'counter', labels: ['task', 'outcome'] },
  covey_http_request_duration_seconds: { help: 'HTTP request latency, by method, route and status class.', type: 'histogram', labels: ['method', 'route', 'status'], buckets: LATENCY_BUCKETS_S },
  covey_update_norm: { help: 'L2 norm of each accepted update, by task: the data for choosing maxUpdateNorm, and a sign of poisoning.', type: 'histogram', labels: ['task'], buckets: NORM_BUCKETS },
  covey_model_version: { help: 'Current global model version.', type: 'gauge', labels: ['task'] },
  covey_round_assigned_clients: { help: 'Clients assigned to the current round.', type: 'gauge', labels: ['task'] },
  covey_round_received_updates: { help: 'Updates the current round holds.', type: 'gauge', labels: ['task'] },
  covey_task_paused: { help: '1 while the operator has paused the task.', type: 'gauge', labels: ['task'] },
  covey_process_resident_memory_bytes: { help: 'Resident memory of the coordinator process (kept for existing dashboards; process_resident_memory_bytes is the same).', type: 'gauge', labels: [] },
  covey_uploads_in_flight: { help: 'Upload bodies being received now (bounded by COVEY_MAX_INFLIGHT_UPLOADS).', type: 'gauge', labels: [] },
} satisfies Record<string, Family>;

export type MetricName = keyof typeof FAMILIES;
type GaugeName = { [K in MetricName]: (typeof FAMILIES)[K]['type'] extends 'gauge' ? K : never }[MetricName];

/** A gauge's value as read at scrape time. */
export type GaugeReading = readonly [GaugeName, Labels, number];

export class Metrics {
  readonly registry = new Registry();
  private readonly counters = new Map<string, Counter>();
  private readonly histograms = new Map<string, Histogram>();
  private readonly sources: (() => GaugeReading[])[] = [];

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    for (const [name, family] of Object.entries(FAMILIES) as [MetricName, Family][]) {
      const common = { name, help: family.help, labelNames: [...family.labels], registers: [this.registry] };
      if (family.type === 'counter') this.counters.set(name, new Counter(common));
      else if (family.type === 'histogram') this.histograms.set(name, new Histogram({ ...common, buckets: [...family.buckets!] }));
      else {
        const readings = () => this.readings;
        new Gauge({
          ...common,
          // Read when scraped (render), once for all gauges, from whoever registered a source.
          collect() {
            this.reset();
            for (const [n, labels, value] of readings()) if (n === name) this.set(labels, value);
          },
        });
      }
    }
  }

  inc(name: MetricName, labels: Labels, by = 1): void {
    this.counters.get(name)!.inc(labels, by);
  }

  /** Adds one observation to a histogram family (seconds for latencies, a norm for updates). */
  observe(name: MetricName, labels: Labels, value: number): void {
    this.histograms.get(name)!.observe(labels, value);
  }

  /** Gauges to read at each scrape. */
  readGauges(source: () => GaugeReading[]): void {
    this.sources.push(source);
  }

  /** The exposition text; the gauges' sources are read once for it. */
  render(): Promise<string> {
    this.readings = this.sources.flatMap((read) => read());
    return this.registry.metrics();
  }

  private readings: GaugeReading[] = [];

  get contentType(): string {
    return this.registry.contentType;
  }
}
