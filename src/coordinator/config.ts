/**
 * Operator settings read from the environment at start. Each override names the task setting it replaces;
 * an invalid value stops the coordinator with a message naming the variable.
 */
import type { AdmissionLimits } from './admission.ts';
import type { RoundPolicy } from './task.ts';
import { DEFAULT_BUFFER_LEASE_S, DEFAULT_CONCURRENCY_PER_PLACE, DEFAULT_MAX_STALENESS } from './task-file.ts';
import { DEFAULT_STALENESS } from '../core/staleness.ts';

/**
 * COVEY_TARGET_CLIENTS, COVEY_MIN_CLIENTS and COVEY_ROUND_DEADLINE_S replace a synchronous task's rounds;
 * COVEY_BUFFER_SIZE makes a task buffered (FedBuff) with that K (COVEY_MAX_STALENESS, default 10, and
 * COVEY_CONCURRENCY, default 4K, with it, or alone for a task file that is buffered already; the staleness
 * function stays the file's, 1/√(1+τ) by default). An empty value counts as unset. A task that aggregates
 * securely or clips adaptively cannot be buffered, and says so.
 */
export function roundPolicyFromEnv(defaults: RoundPolicy, env: NodeJS.ProcessEnv = process.env, task: { id?: string; secureAggregation?: unknown; privacy?: { adaptiveClipping?: unknown } } = {}): RoundPolicy {
  const set = (name: string) => env[name] !== undefined && env[name] !== '';
  const read = (name: string, fallback: number, min: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be an integer ≥ ${min}, got "${raw}"`);
    return value;
  };
  if (set('COVEY_BUFFER_SIZE') || (defaults.buffer && (set('COVEY_MAX_STALENESS') || set('COVEY_CONCURRENCY')))) {
    const name = task.id ? `task ${task.id}` : 'the task';
    if (task.secureAggregation) throw new Error(`COVEY_BUFFER_SIZE: ${name} aggregates securely, which needs synchronous rounds`);
    if (task.privacy?.adaptiveClipping) throw new Error(`COVEY_BUFFER_SIZE: ${name} clips adaptively, which needs synchronous rounds`);
    const size = read('COVEY_BUFFER_SIZE', defaults.buffer?.size ?? 1, 1);
    const leaseMs = defaults.buffer ? (defaults.leaseMs ?? defaults.deadlineMs) : DEFAULT_BUFFER_LEASE_S * 1000;
    const buffer = { size, maxStaleness: read('COVEY_MAX_STALENESS', defaults.buffer?.maxStaleness ?? DEFAULT_MAX_STALENESS, 0), concurrency: read('COVEY_CONCURRENCY', defaults.buffer && !set('COVEY_BUFFER_SIZE') ? defaults.buffer.concurrency : DEFAULT_CONCURRENCY_PER_PLACE * size, 1), staleness: defaults.buffer?.staleness ?? DEFAULT_STALENESS };
    return { minClients: size, targetClients: size, deadlineMs: leaseMs, leaseMs, buffer };
  }
  if (set('COVEY_MAX_STALENESS') || set('COVEY_CONCURRENCY')) throw new Error('COVEY_MAX_STALENESS and COVEY_CONCURRENCY apply to buffered tasks: set COVEY_BUFFER_SIZE too');
  if (env.COVEY_TARGET_CLIENTS === undefined && env.COVEY_MIN_CLIENTS === undefined && env.COVEY_ROUND_DEADLINE_S === undefined) return defaults;
  if (defaults.buffer) throw new Error('COVEY_TARGET_CLIENTS, COVEY_MIN_CLIENTS and COVEY_ROUND_DEADLINE_S set synchronous rounds, and this task is buffered: use COVEY_BUFFER_SIZE');
  const targetClients = read('COVEY_TARGET_CLIENTS', defaults.targetClients, 1);
  const minClients = read('COVEY_MIN_CLIENTS', Math.min(defaults.minClients, targetClients), 1);
  if (minClients > targetClients) throw new Error(`COVEY_MIN_CLIENTS (${minClients}) exceeds COVEY_TARGET_CLIENTS (${targetClients})`);
  const deadlineMs = read('COVEY_ROUND_DEADLINE_S', defaults.deadlineMs / 1000, 1) * 1000;
  return { minClients, targetClients, deadlineMs, ...(defaults.leaseMs === undefined ? {} : { leaseMs: Math.min(defaults.leaseMs, deadlineMs) }) };
}

/** `COVEY_ALLOWED_ORIGINS=https://a.example,https://b.example`: origins every task allows, besides its own list. */
export function allowedOriginsFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  return originsFromEnv('COVEY_ALLOWED_ORIGINS', env);
}

/** `COVEY_PUBLIC_ORIGINS=https://covey.example`: the origins people reach this coordinator at (host-check.ts). */
export function publicOriginsFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  return originsFromEnv('COVEY_PUBLIC_ORIGINS', env);
}

function originsFromEnv(name: string, env: NodeJS.ProcessEnv): string[] {
  const raw = env[name] ?? '';
  return raw
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean)
    .map((o) => {
      let origin: string | undefined;
      try {
        origin = new URL(o).origin;
      } catch {
        // reported below
      }
      if (origin !== o) throw new Error(`${name}: "${o}" is not an origin (scheme://host[:port])`);
      return o;
    });
}

/**
 * Rate limits and back-pressure: COVEY_RATE_LIMIT_IP and COVEY_RATE_LIMIT_CLIENT as "burst/perSecond"
 * (defaults 300/50 and 20/2), COVEY_MAX_INFLIGHT_UPLOADS (64), COVEY_MAX_UPLOADS_PER_IP (4),
 * COVEY_RATE_LIMIT_ENROL (enrolments per address per hour, 60), COVEY_BODY_TIMEOUT_S (120) and
 * COVEY_BODY_MIN_RATE (bytes per second after the first 5 s, 1024); load shedding past
 * COVEY_MAX_EVENT_LOOP_DELAY_MS (off), COVEY_MAX_HEAP_USED_BYTES (90 % of V8's heap limit) and
 * COVEY_MAX_RSS_BYTES (off), each 0 for off.
 */
export function limitsFromEnv(defaults: AdmissionLimits, env: NodeJS.ProcessEnv = process.env): AdmissionLimits {
  const pair = (name: string, burst: number, perSecond: number): [number, number] => {
    const raw = env[name];
    if (!raw) return [burst, perSecond];
    const m = /^(\d+)\/(\d+(?:\.\d+)?)$/.exec(raw);
    if (!m || Number(m[1]) < 1 || !(Number(m[2]) > 0)) throw new Error(`${name} must look like "300/50" (burst/per second), got "${raw}"`);
    return [Number(m[1]), Number(m[2])];
  };
  const positive = (name: string, fallback: number): number => {
    const raw = env[name];
    if (!raw) return fallback;
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || value < 1) throw new Error(`${name} must be a positive integer, got "${raw}"`);
    return value;
  };
  /** A load-shedding threshold: a non-negative integer, 0 for off. */
  const orOff = (name: string, fallback: number): number => {
    const raw = env[name];
    if (!raw) return fallback;
    if (!/^\d+$/.test(raw)) throw new Error(`${name} must be a non-negative integer (0: off), got "${raw}"`);
    return Number(raw);
  };
  const [ipBurst, ipPerSecond] = pair('COVEY_RATE_LIMIT_IP', defaults.ipBurst, defaults.ipPerSecond);
  const [clientBurst, clientPerSecond] = pair('COVEY_RATE_LIMIT_CLIENT', defaults.clientBurst, defaults.clientPerSecond);
  return {
    ...defaults,
    ipBurst,
    ipPerSecond,
    clientBurst,
    clientPerSecond,
    maxInFlightUploads: positive('COVEY_MAX_INFLIGHT_UPLOADS', defaults.maxInFlightUploads),
    maxUploadsPerIp: positive('COVEY_MAX_UPLOADS_PER_IP', defaults.maxUploadsPerIp),
    enrolmentsPerIpPerHour: positive('COVEY_RATE_LIMIT_ENROL', defaults.enrolmentsPerIpPerHour),
    bodyTimeoutMs: positive('COVEY_BODY_TIMEOUT_S', defaults.bodyTimeoutMs / 1000) * 1000,
    minBodyBytesPerSecond: positive('COVEY_BODY_MIN_RATE', defaults.minBodyBytesPerSecond),
    maxEventLoopDelayMs: orOff('COVEY_MAX_EVENT_LOOP_DELAY_MS', defaults.maxEventLoopDelayMs),
    maxHeapUsedBytes: orOff('COVEY_MAX_HEAP_USED_BYTES', defaults.maxHeapUsedBytes),
    maxRssBytes: orOff('COVEY_MAX_RSS_BYTES', defaults.maxRssBytes),
  };
}

/**
 * `COVEY_TRUST_PROXY`: behind a reverse proxy, trust its X-Forwarded-* headers. "true" trusts any proxy;
 * otherwise a comma-separated list of the proxies' addresses or CIDR ranges (safer).
 */
export function trustProxyFromEnv(env: NodeJS.ProcessEnv = process.env): boolean | string {
  const raw = env.COVEY_TRUST_PROXY?.trim();
  if (!raw || raw === 'false') return false;
  if (raw === 'true') return true;
  if (/^\d+$/.test(raw)) throw new Error(`COVEY_TRUST_PROXY: hop counts are not supported; give the proxy's addresses (or CIDR ranges), got "${raw}"`);
  if (!/^[0-9a-fA-F.:/,\s]+$/.test(raw)) throw new Error(`COVEY_TRUST_PROXY must be true or the proxies' addresses, got "${raw}"`);
  return raw;
}

/** A yes/no setting: "true"/"1" or "false"/"0" (absent: `fallback`). */
export function flagFromEnv(name: string, fallback: boolean, env: NodeJS.ProcessEnv = process.env): boolean {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new Error(`${name} must be true or false, got "${raw}"`);
}

/** `COVEY_METRICS_PORT=9464`: /metrics on a port of its own, without the operator token; null when unset. */
export function metricsPortFromEnv(env: NodeJS.ProcessEnv = process.env): number | null {
  const raw = env.COVEY_METRICS_PORT;
  if (raw === undefined || raw === '') return null;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`COVEY_METRICS_PORT must be a port number (0–65535), not "${raw}"`);
  return port;
}
