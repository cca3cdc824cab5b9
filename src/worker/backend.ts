/**
 * Picks the TF.js backend in two steps. At start, the first that works of WebGPU, WebGL and the CPU (or the
 * one `?backend=` forces), recording why each one before it was passed over. At the first job, when the
 * task's model is known, `settleBackend` measures every backend that works (worker/probe.ts) and keeps the
 * fastest, or recalls what it measured before on this device for this model.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import type { BackendName, BackendReport } from './protocol.ts';
import { GRADIENT_TOLERANCE, gradientError, gradientReason, probeBackends, type ProbeOptions, type ProbeSubject } from './probe.ts';
import { choiceKey, type BackendMemory } from './backend-memory.ts';

const ORDER: readonly BackendName[] = ['webgpu', 'webgl', 'cpu'];

interface GpuAdapterLike {
  info?: { vendor?: string; architecture?: string; description?: string };
}
interface NavigatorGpu {
  gpu?: { requestAdapter(): Promise<GpuAdapterLike | null> };
}

/** Why `name` cannot run here, or what the browser says of its device; looks without touching TF.js. */
async function inspect(name: BackendName): Promise<{ reason: string } | { detail?: string }> {
  if (name === 'webgpu') {
    const gpu = (globalThis as { navigator?: NavigatorGpu }).navigator?.gpu;
    if (!gpu) return { reason: 'navigator.gpu is missing: this browser has no WebGPU in workers, or it is disabled' };
    const adapter = await gpu.requestAdapter().catch(() => null);
    if (!adapter) return { reason: 'WebGPU found no adapter (no supported GPU, or blocked by the browser)' };
    const info = adapter.info;
    return { detail: [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' ') || undefined };
  }
  if (name === 'webgl' && typeof OffscreenCanvas === 'undefined') return { reason: 'OffscreenCanvas is missing, so WebGL cannot run in a worker' };
  return {};
}

/** Initialises `backend` and runs one kernel on it; the detail to show, or why it does not work. */
async function tryBackend(backend: BackendName): Promise<{ detail?: string } | { reason: string }> {
  const probed = await inspect(backend);
  if ('reason' in probed) return probed;
  try {
    if (!(await tf.setBackend(backend))) return { reason: `TF.js could not initialise the ${backend} backend` };
    await tf.ready();
    // A backend that initialises can still fail on its first kernel (lost context, missing features).
    const one = tf.add(tf.scalar(1), tf.scalar(1));
    await one.data();
    one.dispose();
    const detail = probed.detail ?? describeWebgl(backend);
    return detail === undefined ? {} : { detail };
  } catch (e) {
    return { reason: `${backend} failed: ${e instanceof Error ? e.message : String(e)}` };
  }
}

export async function chooseBackend(preferred?: BackendName): Promise<BackendReport> {
  const order = preferred ? [preferred, ...ORDER.filter((b) => b !== preferred)] : ORDER;
  const fallbacks: BackendReport['fallbacks'] = [];
  for (const backend of order) {
    const tried = await tryBackend(backend);
    if ('reason' in tried) {
      fallbacks.push({ backend, reason: tried.reason });
      continue;
    }
    return { backend, ...tried, fallbacks };
  }
  throw new Error(`no TF.js backend works here: ${fallbacks.map((f) => f.reason).join('; ')}`);
}

export interface SettleOptions extends ProbeOptions {
  /** `?backend=` (or the SDK's `preferredBackend`) and `initial` is that backend: no probe, but its gradients are still checked and shown. */
  forced: boolean;
  memory: BackendMemory;
  /** What identifies this device for the memory: the user agent and the GPU adapter. */
  device: string;
  now?: () => number;
  /** The backends to consider, fastest expected first; WebGPU, WebGL, CPU unless a test says otherwise. */
  order?: readonly BackendName[];
}

/**
 * The backend for the task's model: the forced one; the only one that works; the one measured before on
 * this device for this model; or the fastest of a probe, then remembered. Backends not chosen are listed in
 * `fallbacks` with their numbers. Leaves TF.js on the chosen backend.
 */
export async function settleBackend(initial: BackendReport, subject: ProbeSubject, o: SettleOptions): Promise<BackendReport> {
  const now = o.now ?? Date.now;
  const started = performance.now();
  if (o.forced) {
    const error = initial.backend === 'cpu' ? undefined : await gradientError(initial.backend).catch(() => Number.POSITIVE_INFINITY);
    await tf.setBackend(initial.backend);
    // Forced is forced: a failed check is shown, and training goes on where the page asked.
    const failed = error !== undefined && !(error <= (o.gradientTolerance ?? GRADIENT_TOLERANCE));
    const measurement = { backend: initial.backend, ...(error === undefined ? {} : { gradientError: error }), ...(failed ? { reason: gradientReason(error, o.gradientTolerance) } : {}) };
    return { ...initial, probe: { chosenBy: 'forced', measurements: [measurement], measuredAt: now(), probeMs: performance.now() - started } };
  }
  // Those after the first that works were never tried at start.
  const order = o.order ?? ORDER;
  const fallbacks = [...initial.fallbacks];
  const details = new Map<BackendName, string | undefined>([[initial.backend, initial.detail]]);
  for (const backend of order) {
    if (details.has(backend) || fallbacks.some((f) => f.backend === backend)) continue;
    const tried = await tryBackend(backend);
    if ('reason' in tried) fallbacks.push({ backend, reason: tried.reason });
    else details.set(backend, tried.detail);
  }
  const candidates = order.filter((b) => details.has(b));
  const report = (backend: BackendName, probe: NonNullable<BackendReport['probe']>): BackendReport => {
    const detail = details.get(backend);
    const losers = probe.measurements.filter((m) => m.backend !== backend).map((m) => ({ backend: m.backend, reason: m.reason ?? slower(m, probe.measurements.find((w) => w.backend === backend)) }));
    return { backend, ...(detail === undefined ? {} : { detail }), fallbacks: [...fallbacks, ...losers], probe };
  };
  if (candidates.length === 1) {
    await tf.setBackend(initial.backend);
    return report(initial.backend, { chosenBy: 'only', measurements: [], measuredAt: now(), probeMs: 0 });
  }
  const key = await choiceKey(o.device, subject.artifacts.modelTopology, subject.batchSize);
  const remembered = await o.memory.recall(key).catch(() => undefined);
  if (remembered && candidates.includes(remembered.backend)) {
    await tf.setBackend(remembered.backend);
    return report(remembered.backend, { chosenBy: 'remembered', measurements: remembered.measurements, measuredAt: remembered.measuredAt, probeMs: remembered.probeMs });
  }
  const { backend, measurements } = await probeBackends(candidates, subject, o);
  const choice = { backend, measurements, measuredAt: now(), probeMs: performance.now() - started };
  // Not remembered (private browsing, a full disk): the probe runs again next time, nothing worse.
  await o.memory.remember(key, choice).catch(() => undefined);
  return report(backend, { chosenBy: 'probe', measurements, measuredAt: choice.measuredAt, probeMs: choice.probeMs });
}

const slower = (m: { samplesPerSecond?: number }, winner?: { backend: BackendName; samplesPerSecond?: number }) =>
  `slower here: ${Math.round(m.samplesPerSecond ?? 0)} samples/s against ${winner?.backend ?? 'the chosen one'}'s ${Math.round(winner?.samplesPerSecond ?? 0)}`;

function describeWebgl(backend: BackendName): string | undefined {
  if (backend !== 'webgl') return undefined;
  return `WebGL ${tf.env().getNumber('WEBGL_VERSION')}`;
}
