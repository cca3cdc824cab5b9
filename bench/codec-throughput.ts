/**
 * Encode and decode throughput of every codec on one large delta, in whatever runtime imports it: Node
 * (bench/codecs.ts) and a Web Worker (bench/codec-worker.ts), so the two compare on the same code. The
 * delta is Gaussian (σ 0.01), the size of the FedAvg paper's CNN by default. Throughput is in MB of the
 * float32 delta per second (4 bytes a parameter), however many bytes the payload has.
 */
import { codecFor } from '../src/core/codecs/index.ts';
import { createRng } from '../src/core/rng.ts';

export const PAPER_CNN_PARAMETERS = 1_663_370;
export const BENCH_CODECS = ['f32', 'f16', 'int8', 'topk:0.01', 'topk-int8:0.01'] as const;

export interface CodecThroughput {
  codec: string;
  payloadBytes: number;
  encodeMBps: number;
  decodeMBps: number;
}

export function measureCodecs(length = PAPER_CNN_PARAMETERS, minMs = 400): CodecThroughput[] {
  const rng = createRng(1);
  const delta = Float32Array.from({ length }, () => 0.01 * Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng()));
  const megabytes = (length * 4) / 1e6;
  return BENCH_CODECS.map((name) => {
    const codec = codecFor(name)!;
    const payload = codec.encode(delta, rng); // also the warm-up
    codec.decode(payload, length);
    return {
      codec: name,
      payloadBytes: payload.byteLength,
      encodeMBps: megabytes / secondsPerCall(() => codec.encode(delta, rng), minMs),
      decodeMBps: megabytes / secondsPerCall(() => codec.decode(payload, length), minMs),
    };
  });
}

/** Mean seconds per call of `fn`, calling it until `minMs` have passed (at least 3 times). */
function secondsPerCall(fn: () => unknown, minMs: number): number {
  const started = performance.now();
  let calls = 0;
  while (calls < 3 || performance.now() - started < minMs) {
    fn();
    calls++;
  }
  return (performance.now() - started) / 1000 / calls;
}
