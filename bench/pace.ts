/**
 * `npm run bench` (and `tsx bench/pace.ts` alone): pace steering under load. 1,000 distinct clients check
 * in to a synchronous task (target 10, so 13 places; deadline 10 min, lease 150 s) within the same second;
 * 13 are assigned and the rest are told to wait. Each waiting client comes back once, after the wait it was
 * asked for, and its arrival is recorded. Prints the mean wait the coordinator asked for, the histogram of
 * the returns and the peak arrivals in any one second, against the fixed wait the coordinator answered with
 * before pace steering (min(deadline − now, 5 s): every client back 5 s later, in the same second).
 *
 * The clock is simulated (nothing sleeps): the coordinator's own Federation in memory, driven by a fake
 * `now`, with a seeded `random` so the numbers repeat. Writes results/pace/pace.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { Federation, PACE_CAP_MS } from '../src/coordinator/federation.ts';
import { SqliteStore } from '../src/coordinator/sqlite-store.ts';
import { TINY_PARAMS, tinyTask } from '../src/coordinator/test-fixtures.ts';
import { createRng } from '../src/core/rng.ts';

const CLIENTS = 1_000;
const BINS = 20;
const SEED = 1;
const rounds = { minClients: 10, targetClients: 10, deadlineMs: 600_000, leaseMs: 150_000 };
/** What a client told to wait was answered before pace steering: untilDeadline(2 s), i.e. min(deadline − now, 5 s). */
const fixedWaitMs = (now: number) => Math.max(2_000, Math.min(rounds.deadlineMs - now, 5_000));

interface Run {
  /** The waits the coordinator asked for (ms), one per client told to wait. */
  waits: number[];
  /** When each of those clients came back (ms on the simulated clock), sorted. */
  returns: number[];
  assigned: number;
  /** Of the returns, how many were assigned then (the round had failed and a new one opened, or places lapsed). */
  assignedOnReturn: number;
}

function simulate(pace: boolean): Run {
  let now = 0;
  const store = new SqliteStore(':memory:');
  const federation = new Federation(tinyTask({ rounds }), new Float32Array(TINY_PARAMS), store, {}, () => now, createRng(SEED));
  try {
    const waits: number[] = [];
    const pending: { clientId: string; at: number }[] = [];
    let assigned = 0;
    for (let i = 0; i < CLIENTS; i++) {
      now = i;
      const clientId = `client-${String(i).padStart(4, '0')}`;
      const answer = federation.checkin({ clientId, exampleCount: 10 });
      if (answer.status === 'assigned') {
        assigned += 1;
        continue;
      }
      const wait = pace ? answer.retryAfterMs : fixedWaitMs(now);
      waits.push(wait);
      pending.push({ clientId, at: now + wait });
    }
    pending.sort((a, b) => a.at - b.at);
    let assignedOnReturn = 0;
    for (const { clientId, at } of pending) {
      now = at;
      if (federation.checkin({ clientId, exampleCount: 10 }).status === 'assigned') assignedOnReturn += 1;
    }
    return { waits, returns: pending.map((p) => p.at), assigned, assignedOnReturn };
  } finally {
    federation.stop();
    store.close();
  }
}

/** The most arrivals within any one second ([t, t + 1 s) for any t), over sorted times. */
function peakPerSecond(sorted: number[]): number {
  let peak = 0;
  for (let lo = 0, hi = 0; hi < sorted.length; hi++) {
    while (sorted[hi]! - sorted[lo]! >= 1_000) lo++;
    peak = Math.max(peak, hi - lo + 1);
  }
  return peak;
}

function histogram(sorted: number[], from: number, to: number): number[] {
  const counts = new Array<number>(BINS).fill(0);
  const width = (to - from) / BINS;
  for (const t of sorted) counts[Math.min(BINS - 1, Math.max(0, Math.floor((t - from) / width)))]! += 1;
  return counts;
}

const seconds = (ms: number) => (ms / 1000).toFixed(1);
const exact = (ms: number) => (ms / 1000).toFixed(3);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

function chart(title: string, counts: number[], from: number, to: number): string[] {
  const width = (to - from) / BINS;
  const scaleMax = Math.max(1, ...counts);
  const lines = [`${title} (${BINS} bins of ${seconds(width)} s, one █ ≈ ${(scaleMax / 50).toFixed(1)} clients)`, '', '```'];
  counts.forEach((n, b) => {
    const bar = '█'.repeat(Math.round((n / scaleMax) * 50)) || (n > 0 ? '▏' : '');
    lines.push(`${seconds(from + b * width).padStart(7)}–${seconds(from + (b + 1) * width).padStart(7)} s │ ${String(n).padStart(4)} ${bar}`);
  });
  lines.push('```', '');
  return lines;
}

const started = performance.now();
const steered = simulate(true);
const fixed = simulate(false);
const elapsed = performance.now() - started;

const rows = [
  { name: 'pace steering (P/R, ±50 % jitter)', run: steered },
  { name: 'old fixed wait (min(deadline − now, 5 s))', run: fixed },
].map(({ name, run }) => ({ name, run, peak: peakPerSecond(run.returns), first: run.returns[0]!, last: run.returns.at(-1)! }));
const [pace, old] = rows as [(typeof rows)[0], (typeof rows)[0]];

// One axis for both: from the check-ins (t = 0) to the last return, so the old burst shows as the single bar it is.
const axisEnd = Math.max(pace.last, old.last);
const paceCounts = histogram(pace.run.returns, 0, axisEnd);
const oldCounts = histogram(old.run.returns, 0, axisEnd);
const places = Math.ceil(1.3 * rounds.targetClients);
const uncappedMs = (CLIENTS / (places / (rounds.leaseMs / 1000))) * 1000;

const out = [
  `# Pace steering under load`,
  '',
  `${CLIENTS.toLocaleString('en')} clients check in within one second to a synchronous task (target ${rounds.targetClients}, ${places} places, deadline ${seconds(rounds.deadlineMs)} s, lease ${seconds(rounds.leaseMs)} s); the ones told to wait come back once, after the wait they were asked for. Simulated clock, seeded random (${SEED}); Node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'} × ${os.cpus().length}; ${(elapsed / 1000).toFixed(1)} s to run.`,
  '',
  '| waits answered with | assigned at once | told to wait | mean wait asked | min – max wait | returns from – to | peak arrivals in one second | assigned on return |',
  '|---|---|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.name} | ${r.run.assigned} | ${r.run.waits.length} | ${seconds(mean(r.run.waits))} s | ${seconds(Math.min(...r.run.waits))} – ${seconds(Math.max(...r.run.waits))} s | ${exact(r.first)} – ${exact(r.last)} s | ${r.peak} | ${r.run.assignedOnReturn} |`),
  '',
  `Peak arrivals a second: ${pace.peak} with pace steering against ${old.peak} with the old fixed wait, ${(old.peak / pace.peak).toFixed(0)}× fewer (ratio ${(pace.peak / old.peak).toFixed(4)}).`,
  '',
  `Assigned on return: no simulated client trains, so a place frees when its ${seconds(rounds.leaseMs)} s lease lapses, and each round fails at its ${seconds(rounds.deadlineMs)} s deadline and a new one opens; clients coming back over those ${(pace.last / 60_000).toFixed(0)} minutes take these places. With the old fixed wait everyone was back at 5 s, into a round still full.`,
  '',
  `P / R here is ${CLIENTS} / (${places} places per ${seconds(rounds.leaseMs)} s lease, no round has closed yet) = ${seconds(uncappedMs)} s, over the ${seconds(PACE_CAP_MS)} s cap, so once the population seen passes ~${Math.ceil((PACE_CAP_MS / 1000) * (places / (rounds.leaseMs / 1000)))} the mean wait is the cap (the first clients told to wait saw a smaller population and shorter waits).`,
  '',
  ...chart('Returns with pace steering', paceCounts, 0, axisEnd),
  ...chart(`Returns with the old fixed wait, on the same axis (all between ${exact(old.first)} and ${exact(old.last)} s)`, oldCounts, 0, axisEnd),
].join('\n');

console.log(`\n${out}`);
mkdirSync('results/pace', { recursive: true });
writeFileSync('results/pace/pace.md', `${out}\n`);
