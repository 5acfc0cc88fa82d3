/** A fixed pool of pipeline workers with promise-based requests routed by task id. */
import { availableParallelism } from 'node:os';
import { type TransferListItem, Worker } from 'node:worker_threads';
import { alignedViews } from '../aligned.js';
import type { ErrorReply, WorkerInit, WorkerNotice, WorkerRequest } from './messages.js';

interface Pending {
  resolve(value: unknown): void;
  reject(err: unknown): void;
  worker: number;
}

/** The default number of workers: one per core, at least two so reads overlap CPU work. */
export function defaultWorkerCount(): number {
  return Math.max(2, Math.min(availableParallelism(), 8));
}

const WORKER_SCRIPT = new URL('./worker.js', import.meta.url);
/** Threads started ahead of a pool (see {@link prestartWorkers}), taken by the next pool. */
const prestarted: Worker[] = [];

/**
 * Starts `count` worker threads now, for the next {@link WorkerPool} to take: a thread needs ~60 ms of
 * CPU to load its modules, which then overlaps opening the repository (scrypt runs on libuv's
 * threads) and loading its index. Unused threads do not keep the process alive.
 */
export function prestartWorkers(count = defaultWorkerCount()): void {
  while (prestarted.length < count) {
    const w = new Worker(WORKER_SCRIPT);
    w.unref();
    // A thread that fails before any pool takes it is just dropped (the pool starts a fresh one).
    w.once('error', () => {
      const i = prestarted.indexOf(w);
      if (i >= 0) prestarted.splice(i, 1);
    });
    prestarted.push(w);
  }
}

/** Options of {@link WorkerPool}: how many shared chunk slots, and their size. */
export interface PoolOptions {
  workers?: number;
  slots: number;
  /** Bytes of a slot's input (a chunk) and output (its sealed blocks, at most input + overhead). */
  inputBytes: number;
  outputBytes: number;
  /** Page-aligned outputs (restore writes them with O_DIRECT); others use plain shared memory. */
  alignedOutputs?: boolean;
}

/**
 * `buf` as a Buffer that owns its whole ArrayBuffer, so the ArrayBuffer can be transferred to a
 * worker: a slice of a pooled or larger buffer (small Buffers, some backends' reads) is copied first,
 * since transferring it would detach memory other Buffers use (Node 24 refuses to).
 */
export function ownedBuffer(buf: Buffer): Buffer {
  if (buf.byteOffset === 0 && buf.buffer.byteLength === buf.length && buf.length >= 4096) return buf;
  const copy = Buffer.allocUnsafeSlow(buf.length);
  buf.copy(copy);
  return copy;
}

export class WorkerPool {
  private readonly workers: Worker[] = [];
  /** Main-thread views of the shared slots. */
  readonly inputs: Buffer[] = [];
  readonly outputs: Buffer[] = [];
  private readonly freeSlots: number[] = [];
  private readonly slotWaiters: ((slot: number) => void)[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly load: number[];
  private nextTask = 1;
  private broken: unknown;

  constructor(init: Omit<WorkerInit, 'slots'>, options: PoolOptions) {
    const count = options.workers ?? defaultWorkerCount();
    this.load = new Array<number>(count).fill(0);
    // Fixed shared buffers instead of a fresh allocation per chunk: memory stays flat whatever the
    // garbage collector of each thread is doing.
    // A restore writes its decoded runs from the outputs with O_DIRECT, so they are page-aligned;
    // each aligned arena reserves much address space, so only a pool that needs it takes one.
    const outputs = options.alignedOutputs
      ? alignedViews(options.slots, options.outputBytes)
      : Array.from({ length: options.slots }, () => ({
          buffer: new SharedArrayBuffer(options.outputBytes),
          offset: 0,
          length: options.outputBytes,
        }));
    const slots = outputs.map((output) => ({ input: new SharedArrayBuffer(options.inputBytes), output }));
    slots.forEach((s, i) => {
      this.inputs.push(Buffer.from(s.input));
      this.outputs.push(Buffer.from(s.output.buffer, s.output.offset, s.output.length));
      this.freeSlots.push(i);
    });
    const workerInit: WorkerInit = { ...init, slots };
    for (let i = 0; i < count; i++) {
      const w = prestarted.shift() ?? new Worker(WORKER_SCRIPT);
      w.ref();
      w.postMessage({ op: 'init', init: workerInit });
      w.on('message', (msg: { task?: number; error?: ErrorReply['error'] }) => {
        if (msg.task === undefined) return;
        const p = this.pending.get(msg.task);
        if (!p) return;
        this.pending.delete(msg.task);
        this.load[p.worker]!--;
        if (msg.error)
          p.reject(
            Object.assign(new Error(msg.error.message), msg.error.code ? { code: msg.error.code } : {}),
          );
        else p.resolve(msg);
      });
      w.on('error', (err) => this.fail(err));
      this.workers.push(w);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /** Waits for a free slot. */
  acquireSlot(): Promise<number> {
    const slot = this.freeSlots.pop();
    if (slot !== undefined) return Promise.resolve(slot);
    return new Promise((resolve) => this.slotWaiters.push(resolve));
  }

  releaseSlot(slot: number): void {
    const waiter = this.slotWaiters.shift();
    if (waiter) waiter(slot);
    else this.freeSlots.push(slot);
  }

  /** A fresh task id. */
  task(): number {
    return this.nextTask++;
  }

  /** The least-loaded worker. */
  pick(): number {
    let best = 0;
    for (let i = 1; i < this.load.length; i++) if (this.load[i]! < this.load[best]!) best = i;
    return best;
  }

  /** Sends a request to worker `worker` and resolves with its reply. */
  run<T>(req: WorkerRequest, worker: number, transfer: TransferListItem[] = []): Promise<T> {
    if (this.broken) return Promise.reject(this.broken);
    return new Promise<T>((resolve, reject) => {
      this.pending.set(req.task, { resolve: resolve as (v: unknown) => void, reject, worker });
      this.load[worker]!++;
      this.workers[worker]!.postMessage(req, transfer);
    });
  }

  /** Sends a request that gets no reply. Workers handle messages in order, so it precedes later requests. */
  notify(notice: WorkerNotice, worker: number): void {
    if (!this.broken) this.workers[worker]!.postMessage(notice);
  }

  private fail(err: unknown): void {
    this.broken = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /** Flushes and closes the workers' files (fsync of written targets), then stops them. */
  async close(): Promise<void> {
    const closed = this.workers.map(
      (w) =>
        new Promise<void>((resolve, reject) => {
          const onMessage = (msg: { closed?: boolean }): void => {
            if (msg.closed) {
              w.off('message', onMessage);
              resolve();
            }
          };
          w.on('message', onMessage);
          w.once('error', reject);
          w.postMessage({ op: 'close' });
        }),
    );
    try {
      if (!this.broken) await Promise.all(closed);
    } finally {
      await Promise.all(this.workers.map((w) => w.terminate()));
    }
  }
}
