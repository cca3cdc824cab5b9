/**
 * `npm run covey -- privacy epsilon …`: the accountant (core/privacy/rdp.ts) from the command line, so that
 * anyone can check the ε a configuration gives, or the noise a target ε needs.
 *
 *   privacy epsilon --q 0.01 --noise 1.1 --rounds 1000 --delta 1e-5    → ε, and the order that gave it
 *   privacy epsilon --q 0.01 --epsilon 2 --rounds 1000 --delta 1e-5    → the smallest noise multiplier
 */
import { parseArgs } from 'node:util';
import { epsilonOf, noiseForEpsilon } from '../core/privacy/rdp.ts';

export function privacyCommand(args: string[]): string {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { q: { type: 'string' }, noise: { type: 'string' }, epsilon: { type: 'string' }, rounds: { type: 'string' }, delta: { type: 'string', default: '1e-5' } },
  });
  if (positionals[0] !== 'epsilon') throw new UsageError();
  const number = (name: 'q' | 'noise' | 'epsilon' | 'rounds' | 'delta', test: (v: number) => boolean, what: string): number => {
    const v = Number(values[name]);
    if (values[name] === undefined || !test(v)) throw new UsageError(`--${name} must be ${what}, got ${values[name] ?? 'nothing'}`);
    return v;
  };
  const q = number('q', (v) => v >= 0 && v <= 1, 'a sampling rate in [0, 1]');
  const rounds = number('rounds', (v) => Number.isInteger(v) && v >= 1, 'a whole number of rounds, at least 1');
  const delta = number('delta', (v) => v > 0 && v < 1, 'in (0, 1)');
  if ((values.noise === undefined) === (values.epsilon === undefined)) throw new UsageError('give --noise (for ε) or --epsilon (for the noise), not both');
  if (values.noise !== undefined) {
    const noise = number('noise', (v) => v >= 0 && Number.isFinite(v), 'a non-negative noise multiplier');
    const { epsilon, order } = epsilonOf({ q, noise, rounds, delta });
    return `ε = ${format(epsilon)} at δ = ${delta} after ${rounds} rounds, sampling rate ${q}, noise multiplier ${noise} (RDP order ${order})`;
  }
  const epsilon = number('epsilon', (v) => v > 0 && Number.isFinite(v), 'a positive ε');
  const noise = noiseForEpsilon({ q, rounds, epsilon, delta });
  return `noise multiplier ${format(noise)} keeps ${rounds} rounds at sampling rate ${q} within ε = ${epsilon}, δ = ${delta} (ε ${format(epsilonOf({ q, noise, rounds, delta }).epsilon)})`;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(detail?: string) {
    super(`${detail ? `${detail}\n` : ''}usage: npm run covey -- privacy epsilon --q RATE (--noise Z | --epsilon E) --rounds R [--delta D]`);
  }
}

const format = (x: number) => (Number.isFinite(x) ? x.toPrecision(4) : '∞');
