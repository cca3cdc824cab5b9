/**
 * Operator metrics in the Prometheus text exposition format (version 0.0.4), served at /metrics: counters
 * and a latency histogram kept here, and gauges read from the federations when scraped.
 */
type Labels = Readonly<Record<string, string>>;

const LATENCY_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** Update norms span orders of magnitude between models: log-spaced buckets. */
const NORM_BUCKETS = [0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100, 300, 1000];

interface Family {
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  buckets?: readonly number[];
}

export const FAMILIES = {
  covey_checkins_total: { help: 'Check-ins answered, by task and answer (assigned, wait).', type: 'counter' },
  covey_updates_accepted_total: { help: 'Updates accepted (duplicates of accepted updates excluded).', type: 'counter' },
  covey_updates_duplicate_total: { help: 'Repeated uploads of accepted updates, answered without counting them again.', type: 'counter' },
  covey_updates_refused_total: { help: 'Updates refused, by reason (the error code in the answer).', type: 'counter' },
  covey_update_bytes_total: { help: 'Bytes of accepted update bodies, by task and codec.', type: 'counter' },
  covey_model_bytes_sent_total: { help: 'Bytes of model bodies sent, by task and kind (full: weights.bin; delta: a model delta).', type: 'counter' },
  covey_rounds_closed_total: { help: 'Rounds closed, by outcome (aggregated, failed).', type: 'counter' },
  covey_http_request_duration_seconds: { help: 'HTTP request latency, by method, route and status class.', type: 'histogram', buckets: LATENCY_BUCKETS_S },
  covey_update_norm: { help: 'L2 norm of each accepted update, by task: the data for choosing maxUpdateNorm, and a sign of poisoning.', type: 'histogram', buckets: NORM_BUCKETS },
  covey_model_version: { help: 'Current global model version.', type: 'gauge' },
  covey_round_assigned_clients: { help: 'Clients assigned to the current round.', type: 'gauge' },
  covey_round_received_updates: { help: 'Updates the current round holds.', type: 'gauge' },
  covey_process_resident_memory_bytes: { help: 'Resident memory of the coordinator process.', type: 'gauge' },
  covey_uploads_in_flight: { help: 'Upload bodies being received now (bounded by COVEY_MAX_INFLIGHT_UPLOADS).', type: 'gauge' },
} satisfies Record<string, Family>;

export type MetricName = keyof typeof FAMILIES;

export class Metrics {
  private readonly counters = new Map<string, number>();
  private readonly histograms = new Map<string, { bounds: readonly number[]; buckets: number[]; sum: number; count: number }>();

  inc(name: MetricName, labels: Labels, by = 1): void {
    const key = series(name, labels);
    this.counters.set(key, (this.counters.get(key) ?? 0) + by);
  }

  /** Adds one observation to a histogram family (seconds for latencies, a norm for updates). */
  observe(name: MetricName, labels: Labels, value: number): void {
    const key = series(name, labels);
    let h = this.histograms.get(key);
    if (!h) {
      const bounds = (FAMILIES[name] as Family).buckets ?? LATENCY_BUCKETS_S;
      this.histograms.set(key, (h = { bounds, buckets: bounds.map(() => 0), sum: 0, count: 0 }));
    }
    h.bounds.forEach((le, i) => {
      if (value <= le) h.buckets[i]! += 1;
    });
    h.sum += value;
    h.count += 1;
  }

  /** The exposition text; `gauges` are read now, as `[name, labels, value]`. */
  render(gauges: readonly [MetricName, Labels, number][]): string {
    const lines: string[] = [];
    const byFamily = new Map<string, string[]>();
    const add = (name: string, line: string) => byFamily.set(name, [...(byFamily.get(name) ?? []), line]);
    for (const [key, value] of this.counters) add(key.split('{')[0]!, `${key} ${value}`);
    for (const [name, labels, value] of gauges) add(name, `${series(name, labels)} ${value}`);
    for (const [key, h] of this.histograms) {
      const [name, rest = '}'] = key.split('{') as [string, string?];
      const inner = rest.slice(0, -1);
      const withLe = (le: string) => `${name}_bucket{${inner}${inner ? ',' : ''}le="${le}"}`;
      h.bounds.forEach((le, i) => add(name, `${withLe(String(le))} ${h.buckets[i]}`));
      add(name, `${withLe('+Inf')} ${h.count}`);
      add(name, `${name}_sum{${inner}} ${h.sum}`);
      add(name, `${name}_count{${inner}} ${h.count}`);
    }
    for (const [name, family] of Object.entries(FAMILIES) as [MetricName, Family][]) {
      const samples = byFamily.get(name);
      if (!samples) continue;
      lines.push(`# HELP ${name} ${family.help}`, `# TYPE ${name} ${family.type}`, ...samples);
    }
    return lines.join('\n') + '\n';
  }
}

function series(name: string, labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return `${name}{${parts.join(',')}}`;
}
