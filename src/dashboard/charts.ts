/**
 * The dashboard's charts, drawn by uPlot (small, fast, kept up): one x axis (versions or rounds) and a few
 * series on one y scale. A chart is made at the first data and then only given new data.
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface SeriesSpec {
  label: string;
  color: string;
  dash?: number[];
}

export interface ChartSpec {
  xLabel: string;
  yLabel: string;
  series: SeriesSpec[];
  /** Fixed range of the left axis (say 0–1 for accuracies). */
  yRange?: [number, number];
  formatY?: (v: number) => string;
}

export class Chart {
  private plot: uPlot | null = null;
  private readonly resize = new ResizeObserver(() => this.plot?.setSize(this.size()));

  constructor(
    private readonly el: HTMLElement,
    private readonly spec: ChartSpec,
  ) {
    this.resize.observe(el);
  }

  private size(): { width: number; height: number } {
    return { width: Math.max(280, this.el.clientWidth), height: 220 };
  }

  /** New data: `x` ascending, one array per series (null where a series has no value). */
  set(x: number[], ys: (number | null)[][]): void {
    const data = [x, ...ys] as uPlot.AlignedData;
    if (this.plot) return this.plot.setData(data);
    const { spec } = this;
    this.plot = new uPlot(
      {
        ...this.size(),
        scales: { x: { time: false }, ...(spec.yRange ? { y: { range: spec.yRange } } : {}) },
        axes: [
          // Versions and rounds are whole numbers: no ticks between them.
          { label: spec.xLabel, stroke: '#5b6661', grid: { stroke: '#e4e8e5' }, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000] },
          { label: spec.yLabel, stroke: '#5b6661', grid: { stroke: '#e4e8e5' }, values: (_u, vals) => vals.map((v) => (spec.formatY ? spec.formatY(v) : String(v))), size: 60 },
        ],
        series: [
          { label: spec.xLabel },
          ...spec.series.map((s) => ({ label: s.label, stroke: s.color, width: 2, dash: s.dash, spanGaps: true, points: { size: 5 } })),
        ],
        // The legend names the series; values show in the tables, not on hover.
        legend: { live: false },
      },
      data,
      this.el,
    );
  }
}
