/**
 * Picks the TF.js backend: WebGPU, else WebGL, else the CPU, recording why each faster one was passed over
 * so the app can show it.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import type { BackendName, BackendReport } from './protocol.ts';

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
    const gpu = (self.navigator as NavigatorGpu).gpu;
    if (!gpu) return { reason: 'navigator.gpu is missing: this browser has no WebGPU in workers, or it is disabled' };
    const adapter = await gpu.requestAdapter().catch(() => null);
    if (!adapter) return { reason: 'WebGPU found no adapter (no supported GPU, or blocked by the browser)' };
    const info = adapter.info;
    return { detail: [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' ') || undefined };
  }
  if (name === 'webgl' && typeof OffscreenCanvas === 'undefined') return { reason: 'OffscreenCanvas is missing, so WebGL cannot run in a worker' };
  return {};
}

export async function chooseBackend(preferred?: BackendName): Promise<BackendReport> {
  const order = preferred ? [preferred, ...ORDER.filter((b) => b !== preferred)] : ORDER;
  const fallbacks: BackendReport['fallbacks'] = [];
  for (const backend of order) {
    const probed = await inspect(backend);
    if ('reason' in probed) {
      fallbacks.push({ backend, reason: probed.reason });
      continue;
    }
    try {
      if (await tf.setBackend(backend)) {
        await tf.ready();
        // A backend that initialises can still fail on its first kernel (lost context, missing features).
        const probe = tf.add(tf.scalar(1), tf.scalar(1));
        await probe.data();
        probe.dispose();
        return { backend, detail: probed.detail ?? describeWebgl(backend), fallbacks };
      }
      fallbacks.push({ backend, reason: `TF.js could not initialise the ${backend} backend` });
    } catch (e) {
      fallbacks.push({ backend, reason: `${backend} failed: ${e instanceof Error ? e.message : String(e)}` });
    }
  }
  throw new Error(`no TF.js backend works here: ${fallbacks.map((f) => f.reason).join('; ')}`);
}

function describeWebgl(backend: BackendName): string | undefined {
  if (backend !== 'webgl') return undefined;
  return `WebGL ${tf.env().getNumber('WEBGL_VERSION')}`;
}
