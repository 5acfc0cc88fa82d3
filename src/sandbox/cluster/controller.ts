/**
 * The machinery every simulated cluster controller shares: an informer (list, then watch from the list's
 * resourceVersion, re-list on 410 or errors with backoff), a keyed work queue (dedupe, one reconcile per
 * key at a time, per-key backoff, requeueAfter), and the test hooks: pause/resume and fault injection.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { RES, statusCode, type Kube, type Resource } from './kube.js';
import type { KObject } from './objects.js';

/** `namespace/name` (or `name` for cluster-scoped objects). */
export function keyOf(obj: KObject): string {
  return obj.metadata.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : obj.metadata.name;
}

/** Splits a key made by {@link keyOf}. */
export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: '', name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/** Callbacks of an informer; `old` is the cached object before an update. */
export interface InformerHandlers<T> {
  onUpsert?(obj: T, old: T | undefined): void;
  onDelete?(obj: T): void;
}

/** A cache of one resource kept current by list + watch. */
export class Informer<T extends KObject> {
  private readonly cache = new Map<string, T>();
  private resourceVersion = '';
  private abort?: AbortController;
  private stopped = false;
  private synced?: () => void;
  private failures = 0;

  constructor(
    private readonly kube: Kube,
    readonly resource: Resource,
    private readonly handlers: InformerHandlers<T>,
  ) {}

  /** Lists, starts watching, and resolves once the cache holds the first list (or the first list failed). */
  start(): Promise<void> {
    const ready = new Promise<void>((resolve) => (this.synced = resolve));
    void this.run();
    return ready;
  }

  /** Stops watching (the cache stays readable). */
  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.cache.get(namespace ? `${namespace}/${name}` : name);
  }

  /** Cached objects, optionally only those matching `filter`. */
  list(filter?: (obj: T) => boolean): T[] {
    const all = [...this.cache.values()];
    return filter ? all.filter(filter) : all;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        if (!this.resourceVersion) await this.relist();
        this.synced?.();
        const reason = await this.watchOnce();
        if (reason === 'expired') this.resourceVersion = '';
        this.failures = 0;
      } catch (e) {
        if (this.stopped) return;
        // A resource not served yet (CRD missing) must not block start(): keep retrying in the background.
        this.synced?.();
        // Anything but a clean close re-lists after a short backoff (never a hot loop).
        if (statusCode(e) === 410) this.resourceVersion = '';
        this.failures++;
        await sleep(Math.min(50 * 2 ** this.failures, 2000));
        this.resourceVersion = '';
      }
    }
  }

  private async relist(): Promise<void> {
    const { items, resourceVersion } = await this.kube.list<T>(this.resource);
    const seen = new Set<string>();
    for (const obj of items) {
      const key = keyOf(obj);
      seen.add(key);
      this.upsert(obj);
    }
    for (const [key, obj] of this.cache) {
      if (!seen.has(key)) {
        this.cache.delete(key);
        this.handlers.onDelete?.(obj);
      }
    }
    this.resourceVersion = resourceVersion;
  }

  private upsert(obj: T): void {
    const key = keyOf(obj);
    const old = this.cache.get(key);
    if (old && old.metadata.resourceVersion === obj.metadata.resourceVersion) return;
    this.cache.set(key, obj);
    this.handlers.onUpsert?.(obj, old);
  }

  /** One watch; resolves when the server closes it ('closed') or says the version is too old ('expired'). */
  private async watchOnce(): Promise<'closed' | 'expired'> {
    let expired = false;
    return new Promise<'closed' | 'expired'>((resolve, reject) => {
      this.kube
        .watch(
          this.resource,
          this.resourceVersion,
          (type, obj) => {
            if (type === 'ERROR') {
              if ((obj as unknown as { code?: number }).code === 410) expired = true;
              return;
            }
            const rv = obj.metadata?.resourceVersion;
            if (rv) this.resourceVersion = rv;
            if (type === 'BOOKMARK') return;
            if (type === 'DELETED') {
              this.cache.delete(keyOf(obj));
              this.handlers.onDelete?.(obj as T);
            } else {
              this.upsert(obj as T);
            }
          },
          (err) => {
            this.abort = undefined;
            if (err && !this.stopped && (err as { name?: string }).name !== 'AbortError')
              reject(err as Error);
            else resolve(expired ? 'expired' : 'closed');
          },
        )
        .then((abort) => {
          this.abort = abort;
          if (this.stopped) abort.abort();
        }, reject);
    });
  }
}

/** Names of the simulated cluster's controllers. */
export type ControllerName = 'provisioner' | 'snapshotter' | 'jobs' | 'kubelet' | 'kubevirt';

/** What a reconcile asks for next. */
export interface ReconcileResult {
  requeueAfterMs?: number;
}

/** An injected fault: the next `remaining` actions of a controller fail with `message`. */
interface Fault {
  remaining: number;
  message: string;
}

/**
 * A controller: subclasses register informers and implement `reconcile(key)`. Pausing stops reconciles
 * (keys keep queueing and run on resume); `fail()` makes the controller's next actions fail the way the
 * real component reports it (each subclass decides where it calls {@link takeFault}).
 */
export abstract class ClusterController {
  private paused = false;
  private stopped = false;
  private fault?: Fault;
  private readonly pending = new Map<string, NodeJS.Timeout | null>();
  private readonly running = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly attempts = new Map<string, number>();
  private readonly informers: Informer<KObject>[] = [];

  constructor(
    readonly name: ControllerName,
    protected readonly kube: Kube,
    protected readonly now: () => Date = () => new Date(),
  ) {}

  /** Creates an informer that this controller starts and stops. */
  protected informer<T extends KObject>(resource: Resource, handlers: InformerHandlers<T>): Informer<T> {
    const inf = new Informer<T>(this.kube, resource, handlers);
    this.informers.push(inf as unknown as Informer<KObject>);
    return inf;
  }

  /** Starts the informers; resolves when all have synced. */
  async start(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.start()));
  }

  /** Stops informers and queue; in-flight reconciles finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.pending.values()) if (t) clearTimeout(t);
    this.pending.clear();
    for (const i of this.informers) i.stop();
    while (this.running.size > 0) await sleep(10);
  }

  /** Stops reconciling until {@link resume}. */
  pause(): void {
    this.paused = true;
  }

  /** Reconciles again, starting with everything queued while paused. */
  resume(): void {
    this.paused = false;
    for (const [key, timer] of this.pending) if (timer === null) this.kick(key);
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Makes the next `times` actions (default: until cleared with `times: 0`) fail with `message`. */
  fail(times = Infinity, message = `injected failure in ${this.name}`): void {
    this.fault = times > 0 ? { remaining: times, message } : undefined;
  }

  /** Consumes one injected fault: returns its message when this action must fail. */
  protected takeFault(): string | undefined {
    if (!this.fault) return undefined;
    const message = this.fault.message;
    if (--this.fault.remaining <= 0) this.fault = undefined;
    return message;
  }

  /** Queues `key` for reconcile now or after `delayMs` (an earlier request wins). */
  enqueue(key: string, delayMs = 0): void {
    if (this.stopped) return;
    if (this.running.has(key)) {
      // Coalesce: run once more after the current reconcile.
      if (delayMs <= 0) this.dirty.add(key);
      else setTimeout(() => this.enqueue(key), delayMs).unref();
      return;
    }
    const existing = this.pending.get(key);
    if (existing === null) return; // already due
    if (delayMs <= 0) {
      if (existing) clearTimeout(existing);
      this.pending.set(key, null);
      this.kick(key);
      return;
    }
    if (existing) return; // an earlier timer is already set
    this.pending.set(
      key,
      setTimeout(() => {
        this.pending.set(key, null);
        this.kick(key);
      }, delayMs),
    );
  }

  private kick(key: string): void {
    if (this.paused || this.stopped || this.running.has(key)) return;
    this.pending.delete(key);
    this.running.add(key);
    void this.process(key);
  }

  private async process(key: string): Promise<void> {
    let next: number | undefined;
    try {
      const result = await this.reconcile(key);
      this.attempts.delete(key);
      next = result?.requeueAfterMs;
    } catch (e) {
      if (this.stopped) return void this.running.delete(key);
      const n = (this.attempts.get(key) ?? 0) + 1;
      this.attempts.set(key, n);
      // 409 is normal under concurrency: retry soon, quietly. Others back off exponentially per key.
      next = statusCode(e) === 409 ? 20 : Math.min(25 * 2 ** n, 5000);
    }
    this.running.delete(key);
    if (this.dirty.delete(key)) this.enqueue(key);
    else if (next !== undefined) this.enqueue(key, next);
  }

  /** Records a core/v1 Event about `obj` (best effort: a failed event never fails the reconcile). */
  protected async event(
    obj: KObject,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    const t = this.now().toISOString();
    try {
      await this.kube.create(RES.events, {
        // Named `<object>.<hex time>` like client-go's event recorder.
        metadata: {
          name: `${obj.metadata.name}.${(Date.now() * 1000 + Math.floor(Math.random() * 1000)).toString(16)}`,
          namespace: obj.metadata.namespace || 'default',
        },
        involvedObject: {
          apiVersion: obj.apiVersion,
          kind: obj.kind,
          name: obj.metadata.name,
          namespace: obj.metadata.namespace,
          uid: obj.metadata.uid,
        },
        type,
        reason,
        message,
        source: { component: this.component },
        reportingComponent: this.component,
        reportingInstance: 'sandbox',
        firstTimestamp: t,
        lastTimestamp: t,
        eventTime: null,
        count: 1,
      } as KObject);
    } catch {
      // Events are informational.
    }
  }

  /** The component name events are reported under (like `persistentvolume-controller`). */
  protected abstract readonly component: string;

  /** Does one step for `key`; throws to retry with backoff. */
  protected abstract reconcile(key: string): Promise<ReconcileResult | void>;
}
