/// <reference lib="webworker" />
/** The codec benchmark in a module Web Worker, as a browser client encodes its update there or on its page. */
import { measureCodecs } from './codec-throughput.ts';

declare const self: DedicatedWorkerGlobalScope;
self.onmessage = (e: MessageEvent<{ length: number }>) => self.postMessage(measureCodecs(e.data.length));
