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
  private worker!: Worker;
  private port!: MessagePort;
  /** Counts answers posted: the caller sleeps while it is unchanged (no reset, so no answer is missed). */
  private readonly signal = new Int32Array(new SharedArrayBuffer(4));
  private nextId = 1;
  private closed = false;
  private exited = false;

  /** `file`: the worker's module (TypeScript: it runs through tsx, as the coordinator does). */
  constructor(
    private readonly file: URL,
    private readonly data: unknown,
    private readonly timeoutMs = 60_000,
  ) {
    this.spawn();
  }

  private spawn(): void {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.exited = false;
    this.worker = new Worker(new URL('./ts-worker.mjs', import.meta.url), { workerData: { entry: this.file.href, port: port2, signal: this.signal, data: this.data }, transferList: [port2] });
    // A worker that died (out of memory, a bug) is started again at the next call: its connection, and
    // any lock it held, died with it, which the caller learns from the connection's generation.
    this.worker.once('exit', () => {
      this.exited = true;
    });
    this.worker.once('error', () => {
      this.exited = true;
    });
    // The worker never keeps the process alive on its own: the coordinator's server does.
    this.worker.unref();
    this.port.unref();
  }

  /** Runs `method` in the worker and returns its value; throws WorkerCallError for what the worker threw. */
  call<T>(method: string, ...args: unknown[]): T {
    if (this.closed) throw new Error(`store closed: ${method}`);
    if (this.exited) {
      this.port.close();
      this.spawn();
    }
    const id = this.nextId++;
    this.port.postMessage({ id, method, args } satisfies Request);
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      // Read the count before looking for the answer: an answer posted after this read changes the count,
      // so the wait below returns at once instead of sleeping past it.
      const seen = Atomics.load(this.signal, 0);
      for (let m = receiveMessageOnPort(this.port); m; m = receiveMessageOnPort(this.port)) {
        const answer = m.message as Answer;
        // An answer to an earlier call that timed out is dropped.
        if (answer.id !== id) continue;
        if ('error' in answer) throw new WorkerCallError(answer.error.message, answer.error.code);
        return answer.value as T;
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        // A worker that does not answer (a hung connection) is ended: its connection, and any lock it held,
        // end with it, and the next call starts afresh rather than waiting behind it.
        this.exited = true;
        void this.worker.terminate();
        throw new Error(`the store's worker did not answer ${method} within ${this.timeoutMs} ms`);
      }
      Atomics.wait(this.signal, 0, seen, left);
    }
  }

  /** Calls `method` (the worker's own shutdown) and ends the thread. */
  close(method?: string): void {
    if (this.closed) return;
    try {
      if (method && !this.exited) this.call(method);
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
      try {
        port.postMessage(answer);
      } catch (e) {
        // A value that cannot cross the thread: the caller hears of it instead of waiting for nothing.
        port.postMessage({ id: req.id, error: { message: `the answer to ${req.method} cannot be sent: ${(e as Error).message}` } } satisfies Answer);
      }
      Atomics.add(signal, 0, 1);
      Atomics.notify(signal, 0);
    });
  });
  return data;
}
