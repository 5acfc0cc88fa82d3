/**
 * An informer for one kind: client-node's ListWatch (list, then watch from the list's resourceVersion,
 * re-list on 410) wrapped so that it survives everything else too. ListWatch stops for good on any
 * other error (a refused connection, a 500, a reset stream); here each stop schedules a restart with
 * exponential backoff, resuming from the last resourceVersion seen. Watches that end cleanly but at once
 * are paced by the same backoff, so a server that closes streams immediately cannot make us spin.
 */
import { ListWatch, Watch, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import { ExponentialBackoff } from './backoff.js';
import { resourcePath, type KubeClient } from './client.js';
import { systemClock, type Clock, type Timer } from './clock.js';
import { isNotFound } from './errors.js';
import { kindId, type ResourceKind } from './kinds.js';
import { errorFields, silentLogger, type Logger } from './logging.js';

/** What happened to an object. */
export type InformerEventType = 'add' | 'update' | 'delete';

/** Receives every change the informer sees, after its cache was updated. */
export type InformerHandler<T> = (type: InformerEventType, obj: T) => void;

/** Options of {@link Informer}. */
export interface InformerOptions {
  client: KubeClient;
  kind: ResourceKind;
  /** Watch one namespace (default: all). */
  namespace?: string;
  labelSelector?: string;
  clock?: Clock;
  logger?: Logger;
  /** Restart backoff (default 200 ms doubling to 30 s). */
  backoff?: { baseMs?: number; maxMs?: number };
  /** A watch that ends cleanly sooner than this counts as a failure for pacing (default 1 s). */
  minWatchMs?: number;
  /** Server-side watch timeout, so streams are refreshed now and then (default 300 s). */
  watchTimeoutSeconds?: number;
  /** Called on each restart after an error (metrics). */
  onRestart?: (err: unknown) => void;
}

/** A watch that adds bookmarks and a server timeout, and reports clean ends to the informer. */
class PacedWatch extends Watch {
  constructor(
    private readonly informer: Informer<KubernetesObject>,
    client: KubeClient,
    private readonly timeoutSeconds: number,
  ) {
    super(client.kubeConfig);
  }

  override watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    // ListWatch calls watch() right after a successful list or reconnect: the cache is complete now.
    this.informer.markWatching();
    const params = { ...queryParams, allowWatchBookmarks: true, timeoutSeconds: this.timeoutSeconds };
    return super.watch(path, params, callback, (err: unknown) => this.informer.watchEnded(err, done));
  }
}

/** A cached, self-healing view of one kind. */
export class Informer<T extends KubernetesObject = KubernetesObject> {
  readonly kind: ResourceKind<T>;
  private readonly lw: ListWatch<T>;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly backoff: ExponentialBackoff;
  private readonly handlers: InformerHandler<T>[] = [];
  private readonly syncWaiters: (() => void)[] = [];
  private synced = false;
  private running = false;
  private restartTimer: Timer | undefined;
  private watchStartedMs = 0;
  private restarts = 0;

  /** The label selector this informer lists and watches with (undefined: every object). */
  get labelSelector(): string | undefined {
    return this.opts.labelSelector;
  }

  constructor(private readonly opts: InformerOptions) {
    this.kind = opts.kind as ResourceKind<T>;
    this.clock = opts.clock ?? systemClock;
    this.log = (opts.logger ?? silentLogger()).child({ informer: kindId(opts.kind) });
    this.backoff = new ExponentialBackoff({
      baseMs: opts.backoff?.baseMs ?? 200,
      maxMs: opts.backoff?.maxMs ?? 30_000,
    });
    const watch = new PacedWatch(
      this as unknown as Informer<KubernetesObject>,
      opts.client,
      opts.watchTimeoutSeconds ?? 300,
    );
    const list = async (): Promise<KubernetesListObject<T>> => {
      const res = await opts.client.list(this.kind, opts.namespace, { labelSelector: opts.labelSelector });
      return { items: res.items, metadata: { resourceVersion: res.resourceVersion } };
    };
    this.lw = new ListWatch<T>(
      resourcePath(opts.kind, opts.namespace),
      watch,
      list,
      false,
      opts.labelSelector,
    );
    this.lw.on('add', (obj) => this.dispatch('add', obj));
    this.lw.on('update', (obj) => this.dispatch('update', obj));
    this.lw.on('delete', (obj) => this.dispatch('delete', obj));
    this.lw.on('error', (err) => this.failed(err));
  }

  /** Registers a change handler (before {@link start}, to see the initial list as adds). */
  on(handler: InformerHandler<T>): void {
    this.handlers.push(handler);
  }

  /** Starts listing and watching; returns at once (see {@link waitForSync}). */
  start(): void {
    if (this.running) return;
    this.running = true;
    void this.lw.start();
  }

  /** Stops watching; the cache keeps its last content. */
  async stop(): Promise<void> {
    this.running = false;
    this.restartTimer?.cancel();
    this.restartTimer = undefined;
    await this.lw.stop();
    for (const wake of this.syncWaiters.splice(0)) wake();
  }

  /** True once the first list has been applied to the cache. */
  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves once synced (or once stopped). */
  waitForSync(): Promise<void> {
    if (this.synced || !this.running) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  /** Restarts after errors so far. */
  restartCount(): number {
    return this.restarts;
  }

  /** The cached object, if any. */
  get(namespace: string | undefined, name: string): T | undefined {
    return this.lw.get(name, this.kind.namespaced ? namespace : undefined);
  }

  /** Cached objects, in one namespace or all. */
  list(namespace?: string): readonly T[] {
    return this.lw.list(namespace);
  }

  /** The last resourceVersion seen (where a restart resumes). */
  resourceVersion(): string {
    return this.lw.latestResourceVersion();
  }

  /** @internal called by PacedWatch when a watch begins. */
  markWatching(): void {
    this.watchStartedMs = this.clock.nowMs();
    if (!this.synced) {
      this.synced = true;
      this.log.debug('cache synced', { objects: this.lw.list().length });
      for (const wake of this.syncWaiters.splice(0)) wake();
    }
  }

  /** @internal called by PacedWatch when a watch ends; decides when ListWatch may reconnect. */
  watchEnded(err: unknown, done: (err: unknown) => void): void {
    if (err || !this.running) {
      done(err);
      return;
    }
    const lived = this.clock.nowMs() - this.watchStartedMs;
    if (lived >= (this.opts.minWatchMs ?? 1000)) {
      this.backoff.forget('watch');
      done(null);
      return;
    }
    const delay = this.backoff.when('watch');
    this.log.debug('watch ended early, reconnecting later', { afterMs: delay });
    this.restartTimer = this.clock.setTimer(delay, () => {
      this.restartTimer = undefined;
      if (this.running) done(null);
    });
  }

  private dispatch(type: InformerEventType, obj: T): void {
    for (const handler of this.handlers) {
      try {
        handler(type, obj);
      } catch (err) {
        this.log.error('informer handler failed', errorFields(err));
      }
    }
  }

  private failed(err: unknown): void {
    // ListWatch also reports the abort of its own stop() as an error: not a failure.
    if (!this.running) return;
    if (!this.synced && isNotFound(err)) {
      // The kind is not served (e.g. KubeVirt not installed): its cache is truly empty, so count it as
      // synced rather than blocking every controller; keep retrying until the CRD appears.
      this.log.warn(
        'kind not served by the API server; treating it as empty until it appears',
        errorFields(err),
      );
      this.markWatching();
    }
    this.restarts++;
    this.opts.onRestart?.(err);
    const delay = this.backoff.when('restart');
    this.log.warn('list/watch failed, restarting', { afterMs: delay, ...errorFields(err) });
    this.restartTimer?.cancel();
    this.restartTimer = this.clock.setTimer(delay, () => {
      this.restartTimer = undefined;
      if (!this.running) return;
      const failuresBefore = this.restarts;
      void this.lw.start().then(() => {
        // A restart that got as far as watching again, with no new failure, ends the streak.
        if (this.running && this.restarts === failuresBefore) this.backoff.forget('restart');
      });
    });
  }
}
