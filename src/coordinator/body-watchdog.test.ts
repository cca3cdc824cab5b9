import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { watchBody } from './body-watchdog.ts';

const pace = { timeoutMs: 400, minBytesPerSecond: 1_000, graceMs: 100 };

function collect(stream: NodeJS.ReadableStream): Promise<{ bytes: number; error?: { status: number; code: string } }> {
  return new Promise((resolve) => {
    let bytes = 0;
    stream.on('data', (c: Buffer) => (bytes += c.byteLength));
    stream.on('end', () => resolve({ bytes }));
    stream.on('error', (e: { status: number; code: string }) => resolve({ bytes, error: { status: e.status, code: e.code } }));
  });
}

describe('body watchdog', () => {
  it('passes a body that keeps the pace through unchanged', async () => {
    const source = new PassThrough();
    const done = collect(watchBody(source, pace));
    source.write(Buffer.alloc(500));
    setTimeout(() => source.end(Buffer.alloc(500)), 150);
    expect(await done).toEqual({ bytes: 1_000 });
  });

  it('cuts off a body slower than the minimum pace with a 408', async () => {
    const source = new PassThrough();
    const done = collect(watchBody(source, pace));
    source.write(Buffer.alloc(10));
    const started = Date.now();
    const result = await done;
    expect(result.error).toEqual({ status: 408, code: 'body_timeout' });
    expect(Date.now() - started).toBeLessThan(pace.timeoutMs);
  });

  it('cuts off a body that takes longer than the timeout, however fast it was at first', async () => {
    const source = new PassThrough();
    const done = collect(watchBody(source, { ...pace, minBytesPerSecond: 1 }));
    source.write(Buffer.alloc(10_000));
    const started = Date.now();
    expect((await done).error).toEqual({ status: 408, code: 'body_timeout' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(pace.timeoutMs - 20);
  });
});
