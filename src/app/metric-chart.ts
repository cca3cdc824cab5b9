/**
 * A dependency-free SVG line chart of a held-out metric (0–1) of the global model per version, measured by
 * the coordinator (solid) and, for accuracy, by the clients on their own held-out examples (dashed).
 */
import type { HistoryPoint, MetricName } from '../core/protocol.ts';

const W = 360, H = 180, PAD_L = 36, PAD_B = 24, PAD_T = 10, PAD_R = 10;
const NS = 'http://www.w3.org/2000/svg';

export function renderMetricChart(svg: SVGSVGElement, history: readonly HistoryPoint[], metric: MetricName): void {
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.replaceChildren();
  const points = history.flatMap((p) => (p.metrics[metric] === undefined ? [] : [{ version: p.version, value: p.metrics[metric] }]));
  const maxX = Math.max(1, ...points.map((p) => p.version));
  const x = (v: number) => PAD_L + (v / maxX) * (W - PAD_L - PAD_R);
  const y = (a: number) => PAD_T + (1 - a) * (H - PAD_T - PAD_B);

  for (const a of [0, 0.25, 0.5, 0.75, 1]) {
    add(svg, 'line', { x1: PAD_L, x2: W - PAD_R, y1: y(a), y2: y(a), class: 'grid' });
    add(svg, 'text', { x: PAD_L - 6, y: y(a) + 4, 'text-anchor': 'end', class: 'tick' }).textContent = `${a * 100}%`;
  }
  add(svg, 'text', { x: (W + PAD_L) / 2, y: H - 4, 'text-anchor': 'middle', class: 'tick' }).textContent = 'model version';
  const federated = metric === 'accuracy' ? history.flatMap((p) => (typeof p.federated?.accuracy === 'number' ? [{ version: p.version, value: p.federated.accuracy, examples: p.federated.examples }] : [])) : [];
  if (federated.length > 0) {
    add(svg, 'polyline', { points: federated.map((p) => `${x(p.version)},${y(p.value)}`).join(' '), class: 'line federated' });
    for (const p of federated) {
      const dot = add(svg, 'circle', { cx: x(p.version), cy: y(p.value), r: 3, class: 'dot federated' });
      add(dot, 'title', {}).textContent = `v${p.version}: ${metricText(metric, p.value)} on ${p.examples} examples people held out`;
    }
  }
  if (points.length === 0) return;
  add(svg, 'polyline', { points: points.map((p) => `${x(p.version)},${y(p.value)}`).join(' '), class: 'line' });
  for (const p of points) {
    const dot = add(svg, 'circle', { cx: x(p.version), cy: y(p.value), r: 3.5, class: 'dot' });
    add(dot, 'title', {}).textContent = `v${p.version}: held-out ${metric} ${metricText(metric, p.value)}`;
  }
}

function add(parent: Element, tag: string, attrs: Record<string, string | number>): SVGElement {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  parent.append(el);
  return el;
}

/** Accuracy and F1 as percentages, AUC as a number (its chance level is 0.5, not 0). */
export function metricText(metric: MetricName, value: number): string {
  return metric === 'auc' ? value.toFixed(3) : `${(value * 100).toFixed(1)} %`;
}
