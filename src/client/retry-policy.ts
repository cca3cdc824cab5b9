/**
 * When to try a failed request again: exponential backoff with full jitter (AWS architecture blog,
 * "Exponential Backoff and Jitter"), capped, and a verdict on which failures are worth another try.
 * Nothing retries forever: after `maxAttempts` answered failures, or once an item is older than `maxAgeMs`,
 * it is given up.
 */
export interface RetryPolicy {
  baseMs: number;
  maxMs: number;
  maxAttempts: number;
  maxAgeMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { baseMs: 1_000, maxMs: 15 * 60_000, maxAttempts: 20, maxAgeMs: 7 * 24 * 3600_000 };

/** Delay before attempt `attempt + 1` (attempt counts from 0), uniformly in [0, min(max, base·2^attempt)]. */
export function backoffDelayMs(attempt: number, policy: RetryPolicy = DEFAULT_RETRY, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt));
  return Math.floor(random() * ceiling);
}

export type RetryDecision = { retry: true; at: number } | { retry: false; reason: string };

/**
 * What to do after failed attempt number `attempts` (counting from 1) of an item created at `createdAt`.
 * `status` is the HTTP status, or undefined when no answer came (offline, connection lost); `code` the
 * refusal's code (`task_paused` counts no attempt: the task waits for its operator); a server's
 * `retryAfterS` (429, 503) is a floor under the backoff, so a busy coordinator is not asked again sooner.
 */
export function decideRetry(
  args: { attempts: number; createdAt: number; status: number | undefined; now: number; retryAfterS?: number; code?: string },
  policy: RetryPolicy = DEFAULT_RETRY,
  random: () => number = Math.random,
): RetryDecision {
  if (!isRetryableStatus(args.status)) return { retry: false, reason: `refused with HTTP ${args.status}` };
  // A coordinator that answers and keeps failing is given up on after maxAttempts; one that does not answer
  // at all (down, or the network is) is waited for until maxAgeMs, with the backoff at its cap.
  // A task its operator paused is not failing: its updates wait, like an unreachable coordinator's, until maxAgeMs.
  const waiting = args.status === undefined || args.code === 'task_paused';
  if (!waiting && args.attempts >= policy.maxAttempts) return { retry: false, reason: `gave up after ${args.attempts} attempts` };
  if (args.now - args.createdAt >= policy.maxAgeMs) return { retry: false, reason: 'gave up: older than the retry window' };
  const floor = Math.min(policy.maxMs, (args.retryAfterS ?? 0) * 1000);
  return { retry: true, at: args.now + Math.max(floor, backoffDelayMs(args.attempts - 1, policy, random)) };
}

/** A network failure (status undefined), a timeout, throttling or a server error may pass; other 4xx will not. */
export function isRetryableStatus(status: number | undefined): boolean {
  return status === undefined || status === 408 || status === 429 || status >= 500;
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
