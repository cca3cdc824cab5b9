/**
 * Line plots as SVG, with no dependency: one line per run, so several runs of the simulator compare on one
 * picture (accuracy against rounds, say). Enough axes, ticks and a legend to read; nothing more.
 */
export interface Series {
  label: string;
  points: [number, number][];
}

export interface PlotOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Horizontal reference lines, such as a target accuracy. */
  marks?: { y: number; label: string }[];
  width?: number;
  height?: number;
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

export function renderPlot(series: Series[], opts: PlotOptions): string {
  const width = opts.width ?? 760;
  const height = opts.height ?? 440;
  const m = { left: 60, right: 190, top: 36, bottom: 48 };
  const all = series.flatMap((s) => s.points).concat((opts.marks ?? []).map((k) => [NaN, k.y] as [number, number]));
  const xs = all.map((p) => p[0]).filter(Number.isFinite);
  const ys = all.map((p) => p[1]).filter(Number.isFinite);
  const [x0, x1] = [Math.min(0, ...xs), Math.max(1, ...xs)];
  const [y0, y1] = padRange(Math.min(...ys), Math.max(...ys));
  const px = (x: number) => m.left + ((x - x0) / (x1 - x0)) * (width - m.left - m.right);
  const py = (y: number) => height - m.bottom - ((y - y0) / (y1 - y0)) * (height - m.top - m.bottom);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2 - m.right / 2}" y="20" text-anchor="middle" font-size="14">${escape(opts.title)}</text>`,
  ];
  for (const t of ticks(y0, y1)) out.push(`<line x1="${m.left}" x2="${width - m.right}" y1="${py(t)}" y2="${py(t)}" stroke="#eee"/><text x="${m.left - 6}" y="${py(t) + 4}" text-anchor="end">${fmt(t)}</text>`);
  for (const t of ticks(x0, x1)) out.push(`<text x="${px(t)}" y="${height - m.bottom + 16}" text-anchor="middle">${fmt(t)}</text>`);
  out.push(`<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${height - m.bottom}" stroke="#333"/><line x1="${m.left}" x2="${width - m.right}" y1="${height - m.bottom}" y2="${height - m.bottom}" stroke="#333"/>`);
  out.push(`<text x="${(m.left + width - m.right) / 2}" y="${height - 10}" text-anchor="middle">${escape(opts.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${(m.top + height - m.bottom) / 2}) rotate(-90)" text-anchor="middle">${escape(opts.yLabel)}</text>`);
  for (const mark of opts.marks ?? []) out.push(`<line x1="${m.left}" x2="${width - m.right}" y1="${py(mark.y)}" y2="${py(mark.y)}" stroke="#555" stroke-dasharray="4 4"/><text x="${width - m.right - 4}" y="${py(mark.y) - 4}" text-anchor="end" fill="#555">${escape(mark.label)}</text>`);
  series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length]!;
    const d = s.points.filter(([, y]) => Number.isFinite(y)).map(([x, y], k) => `${k === 0 ? 'M' : 'L'}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join('');
    out.push(`<path d="${d}" fill="none" stroke="${colour}" stroke-width="1.6"/>`);
    out.push(`<rect x="${width - m.right + 12}" y="${m.top + i * 18}" width="14" height="3" fill="${colour}"/><text x="${width - m.right + 32}" y="${m.top + i * 18 + 5}">${escape(s.label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

function padRange(lo: number, hi: number): [number, number] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, 1];
  if (hi - lo < 1e-9) return [lo - 0.5, hi + 0.5];
  const pad = (hi - lo) * 0.05;
  return [lo - pad, hi + pad];
}

/** About five round numbers between lo and hi. */
function ticks(lo: number, hi: number): number[] {
  const raw = (hi - lo) / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((k) => k * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-9; t += step) out.push(Number(t.toPrecision(12)));
  return out;
}

const fmt = (v: number) => (Math.abs(v) >= 1000 || Number.isInteger(v) ? String(Math.round(v)) : String(Number(v.toPrecision(3))));
const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
