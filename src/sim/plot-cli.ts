/**
 * `npm run sim:plot -- results/a results/b … [--metric accuracy|federatedAccuracy|personalAccuracy|loss] [--out plot.svg]`:
 * several simulator runs (their `--out` folders) drawn on one plot, each labelled as its run.json says.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { renderPlot } from './plot.ts';
import type { RoundRecord } from './simulation.ts';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { metric: { type: 'string', default: 'accuracy' }, out: { type: 'string', default: 'plot.svg' } } });
const metric = values.metric as keyof RoundRecord;
if (positionals.length === 0) throw new Error('name the runs to draw: npm run sim:plot -- results/a results/b');
const series = positionals.map((dir) => {
  const records = JSON.parse(readFileSync(join(dir, 'rounds.json'), 'utf8')) as RoundRecord[];
  const run = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as { label?: string };
  return { label: run.label ?? dir, points: records.map((r) => [r.round, Number(r[metric])] as [number, number]) };
});
writeFileSync(values.out!, renderPlot(series, { title: `${metric} per round`, xLabel: 'round', yLabel: String(metric) }));
console.log(`wrote ${values.out} (${series.length} runs)`);
