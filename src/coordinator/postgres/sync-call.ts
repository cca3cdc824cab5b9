/**
 * Synchronous calls into a worker thread that does asynchronous work (PostgreSQL's driver is asynchronous;
 * the store's contract is synchronous, see store.ts). The caller posts a request on a MessageChannel and
 * sleeps on a shared word (Atomics.wait) until the worker has posted the answer and woken it; the answer
 * is then taken off the port with receiveMessageOnPort. Values cross by structured clone (typed arrays
 * keep their type; a Buffer arrives as a Uint8Array).
 *
 * The worker side is `serveSyncCalls(handlers)`: each request runs one handler to completion before the
 * next is read, so calls are strictly ordered, like better-sqlite3's.
 */
import { MessageChannel, receiveMessageOnPort, Worker, workerData, type MessagePort } from 'node:worker_threads';

interface Request {
  id: number;
  method: string;
  args: unknown[];
}
type Answer = { id: number; value: unknown } | { id: number; error: { message: string; code?: string } };

/** An error the worker's handler threw, with the PostgreSQL SQLSTATE (or other) code it carried. */
export class WorkerCallError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

export class SyncWorker {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly signal = new Int32Array(new SharedArrayBuffer(4));
  private nextId = 1;
  private closed = false;

  /** `file`: the worker's module (TypeScript: it runs with tsx's loader, as the coordinator does). */
  constructor(
    file: URL,
    data: unknown,
    private readonly timeoutMs = 60_000,
  ) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(new URL('./ts-worker.mjs', import.meta.url), { workerData: { entry: file.href, port: port2, signal: this.signal, data }, transferList: [port2] });
    // The worker never keeps the process alive on its own: the coordinator's server does.
    this.worker.unref();
    this.port.unref();
  }

  /** Runs `method` in the worker and returns its value; throws WorkerCallError for what the worker threw. */
  call<T>(method: string, ...args: unknown[]): T {
    if (this.closed) throw new Error(`store closed: ${method}`);
    const id = this.nextId++;
    Atomics.store(this.signal, 0, 0);
    this.port.postMessage({ id, method, args } satisfies Request);
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const waited = Atomics.wait(this.signal, 0, 0, Math.max(1, deadline - Date.now()));
      const message = receiveMessageOnPort(this.port)?.message as Answer | undefined;
      if (message && message.id === id) {
        if ('error' in message) throw new WorkerCallError(message.error.message, message.error.code);
        return message.value as T;
      }
      if (waited === 'timed-out' || Date.now() >= deadline) throw new Error(`the store's worker did not answer ${method} within ${this.timeoutMs} ms`);
      Atomics.store(this.signal, 0, 0);
    }
  }

  /** Calls `method` (the worker's own shutdown) and ends the thread. */
  close(method?: string): void {
    if (this.closed) return;
    try {
      if (method) this.call(method);
    } finally {
      this.closed = true;
      this.port.close();
      void this.worker.terminate();
    }
  }
}

/** The worker's side: answers each request with its handler's value (awaited), one at a time. */
export function serveSyncCalls(handlers: Record<string, (...args: never[]) => unknown>): unknown {
  const { port, signal, data } = workerData as { port: MessagePort; signal: Int32Array; data: unknown };
  let queue = Promise.resolve();
  port.on('message', (req: Request) => {
    queue = queue.then(async () => {
      let answer: Answer;
      try {
        const handler = handlers[req.method];
        if (!handler) throw new Error(`no such store method: ${req.method}`);
        answer = { id: req.id, value: await (handler as (...args: unknown[]) => unknown)(...req.args) };
      } catch (e) {
        const err = e as { message?: string; code?: string };
        answer = { id: req.id, error: { message: err.message ?? String(e), ...(err.code ? { code: err.code } : {}) } };
      }
      port.postMessage(answer);
      Atomics.store(signal, 0, 1);
      Atomics.notify(signal, 0);
    });
  });
  return data;
}
