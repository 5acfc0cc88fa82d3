/**
 * Runs one Reconciler: a work queue fed by the manager's event handlers and N workers calling reconcile,
 * one key at a time per key. Outcomes: success forgets the key's backoff (and honours requeueAfterMs);
 * a 409 Conflict requeues after ~1 s quietly (the cache was stale, nothing is wrong); any other error
 * requeues with per-key exponential backoff and is logged.
 */
import type { KubeClient } from './client.js';
import type { Clock } from './clock.js';
import { isConflict } from './errors.js';
import type { EventRecorder } from './events.js';
import { errorFields, type Logger } from './logging.js';
import type { Metrics } from './metrics.js';
import {
  keyString,
  parseKey,
  type CacheReader,
  type ObjectKey,
  type Reconciler,
  type ReconcileResult,
} from './reconciler.js';
import { ExponentialBackoff } from './backoff.js';
import { WorkQueue } from './workqueue.js';

/** What a {@link ControllerRunner} needs from the manager. */
export interface ControllerDeps {
  client: KubeClient;
  cache: CacheReader;
  events: EventRecorder;
  logger: Logger;
  clock: Clock;
  metrics: Metrics;
  /** Workers when the reconciler does not say (default 1). */
  concurrency: number;
  /** Error backoff (default 100 ms doubling to 5 min). */
  backoff?: { baseMs?: number; maxMs?: number };
  /** Delay after a 409 Conflict (default 1 s). */
  conflictRequeueMs?: number;
}

/** One reconciler's queue and workers; started when leading, stopped (drained) otherwise. */
export class ControllerRunner {
  private queue: WorkQueue | undefined;
  private abort: AbortController | undefined;
  private workers: Promise<void>[] = [];
  private readonly log: Logger;

  constructor(
    readonly reconciler: Reconciler,
    private readonly deps: ControllerDeps,
  ) {
    this.log = deps.logger.child({ controller: reconciler.name });
  }

  /** True between {@link start} and {@link stop}. */
  isRunning(): boolean {
    return this.queue !== undefined;
  }

  /** Keys waiting now (0 when stopped). */
  depth(): number {
    return this.queue?.len() ?? 0;
  }

  /** Enqueues a key; ignored while stopped (the next start enqueues every cached object). */
  enqueue(key: ObjectKey): void {
    if (!key.name) return;
    this.queue?.add(keyString(key));
  }

  /** Creates a fresh queue, enqueues `initial` keys, and starts the workers. */
  start(initial: ObjectKey[]): void {
    if (this.queue) return;
    const name = this.reconciler.name;
    const { metrics, clock } = this.deps;
    this.abort = new AbortController();
    this.queue = new WorkQueue({
      clock,
      rateLimiter: new ExponentialBackoff(this.deps.backoff),
      onDepth: (d) => metrics.queueDepth.set({ controller: name }, d),
      onAdd: () => metrics.queueAdds.inc({ controller: name }),
    });
    for (const key of initial) this.enqueue(key);
    const n = Math.max(1, this.reconciler.concurrency ?? this.deps.concurrency);
    this.workers = Array.from({ length: n }, () =>
      this.work(this.queue as WorkQueue, (this.abort as AbortController).signal),
    );
    this.log.info('controller started', { workers: n });
  }

  /** Stops handing out keys, aborts the context signal, and waits for reconciles in flight. */
  async stop(): Promise<void> {
    const queue = this.queue;
    if (!queue) return;
    this.abort?.abort(new Error('controller stopping'));
    await queue.shutDown();
    await Promise.all(this.workers);
    this.queue = undefined;
    this.workers = [];
    this.deps.metrics.queueDepth.set({ controller: this.reconciler.name }, 0);
    this.log.info('controller stopped');
  }

  private async work(queue: WorkQueue, signal: AbortSignal): Promise<void> {
    for (;;) {
      const item = await queue.get();
      if (item === undefined) return;
      try {
        await this.process(queue, item, signal);
      } finally {
        queue.done(item);
      }
    }
  }

  private async process(queue: WorkQueue, item: string, signal: AbortSignal): Promise<void> {
    const { metrics, clock } = this.deps;
    const name = this.reconciler.name;
    const key = parseKey(item);
    const log = this.log.child({ namespace: key.namespace || undefined, name: key.name });
    const started = clock.nowMs();
    let result: ReconcileResult | void;
    try {
      result = await this.reconciler.reconcile(key, {
        controller: name,
        client: this.deps.client,
        cache: this.deps.cache,
        events: this.deps.events,
        log,
        clock,
        metrics,
        signal,
      });
    } catch (err) {
      metrics.reconcileDuration.observe({ controller: name }, (clock.nowMs() - started) / 1000);
      if (signal.aborted) {
        log.debug('reconcile interrupted by shutdown', errorFields(err));
        return;
      }
      metrics.queueRetries.inc({ controller: name });
      if (isConflict(err)) {
        // Stale cache or a concurrent writer: routine, retried soon on a fresh read.
        metrics.reconciles.inc({ controller: name, result: 'conflict' });
        log.debug('conflict, requeueing', errorFields(err));
        queue.addAfter(item, this.deps.conflictRequeueMs ?? 1000);
        return;
      }
      metrics.reconciles.inc({ controller: name, result: 'error' });
      metrics.reconcileErrors.inc({ controller: name });
      const delay = queue.addRateLimited(item);
      log.error('reconcile failed', {
        ...errorFields(err),
        retryInMs: delay,
        retries: queue.rateLimiter.retries(item),
      });
      return;
    }
    metrics.reconcileDuration.observe({ controller: name }, (clock.nowMs() - started) / 1000);
    queue.forget(item);
    const after = result?.requeueAfterMs;
    if (after !== undefined && after >= 0) {
      metrics.reconciles.inc({ controller: name, result: 'requeue' });
      queue.addAfter(item, after);
    } else {
      metrics.reconciles.inc({ controller: name, result: 'success' });
    }
  }
}
