/** What a simulation leaves behind: rounds.json, rounds.csv, run.json and plot.svg in its folder. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderPlot } from './plot.ts';
import type { RoundRecord } from './simulation.ts';

const HEADERS: (keyof RoundRecord)[] = ['round', 'accuracy', 'loss', 'federatedAccuracy', 'federatedLoss', 'personalAccuracy', 'clients', 'refused', 'clientLoss', 'bytesUp', 'bytesDown', 'wallMs', 'samplesPerSecond'];

export interface RunInfo {
  label: string;
  target?: number;
  [key: string]: unknown;
}

export function writeRun(dir: string, records: RoundRecord[], run: RunInfo): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'rounds.json'), JSON.stringify(records, null, 1));
  writeFileSync(join(dir, 'rounds.csv'), [HEADERS.join(','), ...records.map((r) => HEADERS.map((h) => r[h] ?? '').join(','))].join('\n') + '\n');
  writeFileSync(join(dir, 'run.json'), JSON.stringify(run, null, 1));
  const marks = run.target === undefined ? [] : [{ y: run.target, label: `target ${(run.target * 100).toFixed(1)} %` }];
  writeFileSync(join(dir, 'plot.svg'), renderPlot([{ label: run.label, points: records.map((r) => [r.round, r.accuracy]) }], { title: 'held-out accuracy', xLabel: 'round', yLabel: 'accuracy', marks }));
}

/** A few lines: how many labels clients hold, and the first clients' label counts. */
export function describePartition(counts: number[][]): string {
  const held = counts.map((c) => c.filter((n) => n > 0).length);
  const sizes = counts.map((c) => c.reduce((a, b) => a + b, 0));
  const lines = [`partition: ${counts.length} clients, ${Math.min(...sizes)}–${Math.max(...sizes)} examples, ${Math.min(...held)}–${Math.max(...held)} labels each (mean ${(held.reduce((a, b) => a + b, 0) / held.length).toFixed(1)})`];
  for (const [i, c] of counts.slice(0, 5).entries()) lines.push(`  client ${i}: ${c.map((n, l) => (n ? `${l}×${n}` : '')).filter(Boolean).join(' ')}`);
  if (counts.length > 5) lines.push(`  … ${counts.length - 5} more`);
  return lines.join('\n');
}

/** An experiment's table: written to `dir`/table.md and printed. */
export function publishTable(dir: string, table: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'table.md'), table);
  console.log(`\n${table}`);
}

/** Runs an experiment script's `main`, exiting with its error's stack on failure. */
export function runExperiment(main: () => Promise<void>): void {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : e);
    process.exit(1);
  });
}
