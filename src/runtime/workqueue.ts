/**
 * The keyed work queue between event handlers and reconcile workers (client-go's semantics): a key
 * waiting in the queue is stored once however often it is added; a key being processed is never handed
 * to a second worker, and if it changes meanwhile it is queued again when the first worker is done.
 * Delayed adds (requeueAfter, backoff) keep only the earliest deadline per key.
 */
import { ExponentialBackoff, type RateLimiter } from './backoff.js';
import { systemClock, type Clock, type Timer } from './clock.js';

/** Options of {@link WorkQueue}. */
export interface WorkQueueOptions {
  clock?: Clock;
  rateLimiter?: RateLimiter;
  /** Called whenever the number of waiting keys changes (depth metric). */
  onDepth?: (depth: number) => void;
  /** Called for every add that was not deduplicated away. */
  onAdd?: () => void;
}

interface Delayed {
  at: number;
  timer: Timer;
}

/** FIFO of distinct keys with per-key exclusivity, delays and backoff. */
export class WorkQueue {
  private readonly queue: string[] = [];
  /** Keys needing processing: those in `queue` plus those re-added while processing. */
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly delayed = new Map<string, Delayed>();
  private readonly waiters: ((key: string | undefined) => void)[] = [];
  private readonly idleWaiters: (() => void)[] = [];
  private shuttingDown = false;
  private readonly clock: Clock;
  readonly rateLimiter: RateLimiter;

  constructor(private readonly opts: WorkQueueOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.rateLimiter = opts.rateLimiter ?? new ExponentialBackoff();
  }

  /** Queues `key` unless it is already waiting. Ignored after shutdown. */
  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    this.opts.onAdd?.();
    // A key in flight is queued again by done(), so one key never runs on two workers.
    if (this.processing.has(key)) return;
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
      return;
    }
    this.queue.push(key);
    this.reportDepth();
  }

  /** Queues `key` after `ms`; an earlier pending deadline for the same key wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.clock.nowMs() + ms;
    const pending = this.delayed.get(key);
    if (pending && pending.at <= at) return;
    pending?.timer.cancel();
    const timer = this.clock.setTimer(ms, () => {
      this.delayed.delete(key);
      this.add(key);
    });
    this.delayed.set(key, { at, timer });
  }

  /** Queues `key` after its next backoff delay (one more failure recorded). Returns the delay. */
  addRateLimited(key: string): number {
    const ms = this.rateLimiter.when(key);
    this.addAfter(key, ms);
    return ms;
  }

  /** Resets `key`'s backoff after it succeeded. */
  forget(key: string): void {
    this.rateLimiter.forget(key);
  }

  /**
   * Waits for the next key and marks it in flight; the caller must call {@link done} with it.
   * Resolves undefined once the queue is shut down.
   */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.queue.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      this.reportDepth();
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks `key` finished; if it was added meanwhile it goes back in the queue. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.add(key);
    }
    if (this.processing.size === 0) {
      for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  /** Keys waiting (not in flight, not delayed). */
  len(): number {
    return this.queue.length;
  }

  /** Keys currently being processed. */
  inFlight(): number {
    return this.processing.size;
  }

  /** Keys with a pending delayed add. */
  delayedCount(): number {
    return this.delayed.size;
  }

  /** True once {@link shutDown} was called. */
  isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /**
   * Stops handing out keys (waiting `get()`s resolve undefined), drops waiting and delayed keys (the
   * informers' initial list re-creates them on the next start), and resolves when every key in flight
   * is done: a graceful drain.
   */
  async shutDown(): Promise<void> {
    this.shuttingDown = true;
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
    for (const d of this.delayed.values()) d.timer.cancel();
    this.delayed.clear();
    this.queue.length = 0;
    this.dirty.clear();
    this.reportDepth();
    if (this.processing.size > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private reportDepth(): void {
    this.opts.onDepth?.(this.queue.length);
  }
}
