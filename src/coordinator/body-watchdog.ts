/**
 * Cuts off request bodies that arrive too slowly. Without it, a connection that declares a Content-Length
 * and trickles a byte every few seconds holds whatever it was admitted to (an upload slot, a socket) for as
 * long as it likes; 64 of them once kept every honest upload out. A body must arrive within `timeoutMs`,
 * and after the first `graceMs` at `minBytesPerSecond` on average; otherwise the stream fails with a 408
 * `body_timeout`, the answer closes the connection, and whatever the request held is given back.
 */
import { PassThrough, type Readable } from 'node:stream';
import { ApiFailure } from './api-failure.ts';

export interface BodyPace {
  timeoutMs: number;
  minBytesPerSecond: number;
  graceMs: number;
}

/** The body `payload`, passed through unchanged while it keeps the pace. */
export function watchBody(payload: Readable, pace: BodyPace, now: () => number = Date.now): PassThrough {
  const started = now();
  let received = 0;
  const watched = new PassThrough();
  const check = () => {
    const elapsedMs = now() - started;
    const tooLong = elapsedMs > pace.timeoutMs;
    const tooSlow = elapsedMs > pace.graceMs && received < (pace.minBytesPerSecond * (elapsedMs - pace.graceMs)) / 1000;
    if (!tooLong && !tooSlow) return;
    stop();
    payload.unpipe(watched);
    payload.pause();
    const why = tooLong ? `it did not arrive within ${pace.timeoutMs / 1000} s` : `it arrived slower than ${pace.minBytesPerSecond} bytes/s`;
    watched.destroy(new ApiFailure(408, 'body_timeout', `the request body was cut off: ${why}`, 'body'));
  };
  const timer = setInterval(check, Math.min(1_000, pace.timeoutMs, Math.max(50, pace.graceMs)));
  timer.unref();
  const stop = () => clearInterval(timer);
  payload.on('data', (chunk: Buffer) => {
    received += chunk.byteLength;
  });
  payload.once('end', stop);
  payload.once('close', stop);
  payload.once('error', stop);
  // Refused before the body was read (no token, say): nobody reads `watched`, and its failure is nobody's concern.
  watched.once('close', stop);
  watched.on('error', () => undefined);
  payload.pipe(watched);
  return watched;
}

/**
 * Fastify's limit for the routes whose bodies are model-sized (updates, masked inputs), fixed when the route
 * is made. Each task's own, smaller limit is enforced as the body arrives (capBody), so tasks added while
 * the coordinator runs get theirs too; every other route keeps the server's 64 KiB.
 */
export const MODEL_BODY_CEILING = 1024 * 1024 * 1024;

/**
 * The body `payload`, failing with 413 `body_too_large` once more than `maxBytes` have come. For limits
 * known only per request (each task's largest upload, tasks added while the coordinator runs), where
 * Fastify's `bodyLimit` is fixed when the route is made.
 */
export function capBody(payload: Readable, maxBytes: number, message: () => string): PassThrough {
  let received = 0;
  const capped = new PassThrough();
  payload.on('data', (chunk: Buffer) => {
    received += chunk.byteLength;
    if (received <= maxBytes) return;
    payload.unpipe(capped);
    payload.pause();
    capped.destroy(new ApiFailure(413, 'body_too_large', message(), 'body'));
  });
  capped.on('error', () => undefined);
  payload.once('error', (e) => capped.destroy(e));
  payload.pipe(capped);
  return capped;
}
