/**
 * A tiny deduplicating task queue for the server's own controllers (garbage collector, namespace and
 * CRD cleanup): work runs after the current write returns, once per key however often it was queued.
 */
export class TaskQueue {
  private readonly pending = new Map<string, () => void>();
  private scheduled = false;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];

  /** Queues `task` under `key`, replacing a queued task with the same key. */
  enqueue(key: string, task: () => void): void {
    if (this.stopped) return;
    this.pending.set(key, task);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  private drain(): void {
    this.scheduled = false;
    // Tasks may enqueue more; keep going until quiet so callers see a settled state.
    for (let rounds = 0; this.pending.size > 0 && rounds < 1000 && !this.stopped; rounds++) {
      const batch = [...this.pending.values()];
      this.pending.clear();
      for (const task of batch) {
        try {
          task();
        } catch {
          // Conflicts and vanished objects are normal here: the next event re-queues the work.
        }
      }
    }
    if (this.pending.size === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    } else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  /** Resolves once nothing is queued. */
  idle(): Promise<void> {
    if (this.pending.size === 0 && !this.scheduled) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Drops queued work and accepts no more. */
  stop(): void {
    this.stopped = true;
    this.pending.clear();
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
