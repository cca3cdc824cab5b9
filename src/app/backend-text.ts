/** How the app puts the trainer's choice of backend (worker/backend.ts) into words. */
import type { BackendMeasurement, BackendReport } from '../worker/protocol.ts';

/** One line on how the backend was chosen, with the probe's numbers; empty before the first job settles it. */
export function describeChoice(report: BackendReport): string {
  const p = report.probe;
  return [p ? describeBackend(report, p) : '', report.batch ? describeBatch(report.batch) : ''].filter(Boolean).join('. ');
}

function describeBatch(b: NonNullable<BackendReport['batch']>): string {
  if (b.chosenBy === 'unmeasured') return `Batch ${b.size} of ${b.range[0]}–${b.range[1]}: the smallest, unmeasured, since on this backend a step takes longer the larger the batch`;
  const timings = b.measurements.map((m) => `${m.batchSize}: ${m.samplesPerSecond === undefined ? 'failed' : Math.round(m.samplesPerSecond)}`).join(', ');
  return `Batch ${b.size} of ${b.range[0]}–${b.range[1]}: the smallest whose epoch is within 10 % of the quickest${b.chosenBy === 'remembered' ? ' when measured before' : ''} (samples/s at each: ${timings})`;
}

function describeBackend(report: BackendReport, p: NonNullable<BackendReport['probe']>): string {
  const when = new Date(p.measuredAt).toLocaleDateString(undefined, { day: 'numeric', month: 'short', year: 'numeric' });
  const numbers = p.measurements.map(describeMeasurement).join(' · ');
  switch (p.chosenBy) {
    case 'forced':
      return `Asked for by the page (?backend=${report.backend}), not measured${numbers ? `. ${numbers}` : ''}`;
    case 'only':
      return 'The only backend that works in this browser';
    case 'probe':
      return `Fastest in a ${seconds(p.probeMs)} probe of this task's model: ${numbers}`;
    case 'remembered':
      return `Fastest when this device was measured on ${when} (a ${seconds(p.probeMs)} probe): ${numbers}`;
  }
}

function describeMeasurement(m: BackendMeasurement): string {
  const gradients = m.gradientError === undefined ? '' : m.reason === undefined ? `, gradients within ${m.gradientError.toExponential(0)} of the CPU's` : `, gradients off by ${Number.isFinite(m.gradientError) ? m.gradientError.toExponential(0) : 'everything'}`;
  if (m.samplesPerSecond === undefined) return `${m.backend}${m.reason ? `: ${m.reason}` : gradients}`;
  return `${m.backend} ${Math.round(m.samplesPerSecond)} samples/s (${m.msPerStep!.toFixed(1)} ms a step of ${m.batchSize}${gradients})${m.reason ? `, not used: ${m.reason}` : ''}`;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
