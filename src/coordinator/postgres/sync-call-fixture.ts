/** A worker for sync-call.test.ts: answers, sleeps, throws with a code, or dies. */
import { serveSyncCalls } from './sync-call.ts';

const { greeting } = serveSyncCalls({
  echo: (x: unknown) => ({ greeting, x }),
  sleep: async (ms: number) => {
    await new Promise((r) => setTimeout(r, ms));
    return `slept ${ms}`;
  },
  fail: () => {
    throw Object.assign(new Error('refused'), { code: '23505' });
  },
  bytes: () => new Float32Array([1.5, -2]),
  die: () => process.exit(3),
}) as { greeting: string };
