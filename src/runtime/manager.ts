/**
 * The Manager owns everything a controller process runs: the kube client, one informer per watched
 * kind (the shared cache), event handlers mapping changes to keys, one ControllerRunner per reconciler,
 * leader election, the event recorder, metrics, and the probe/metrics HTTP servers.
 *
 * Lifecycle: start() starts informers on every replica (a follower keeps a warm cache) and campaigns
 * for the lease; once leading and synced, controllers start with every cached primary object queued.
 * Losing the lease stops (drains) them; winning again restarts them. stop() drains controllers,
 * releases the lease, stops informers and servers.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { InformerCache } from './cache.js';
import { KubeClient } from './client.js';
import { systemClock, type Clock } from './clock.js';
import { ControllerRunner } from './controller.js';
import { KubeEventRecorder, type EventRecorder } from './events.js';
import { Informer } from './informer.js';
import { Kinds, kindId, type ResourceKind } from './kinds.js';
import { LeaderElector, type LeaderElectionConfig, type LeadershipState } from './leaderelection.js';
import { errorFields, silentLogger, type Logger } from './logging.js';
import { Metrics } from './metrics.js';
import { ProbeServer } from './httpserver.js';
import { keyOf, mapByOwner, type KeyMapper, type Reconciler } from './reconciler.js';

/** Options of {@link Manager}. */
export interface ManagerOptions {
  kubeConfig: KubeConfig;
  /** Watch and reconcile one namespace only (default: all). */
  namespace?: string;
  /** Default workers per controller (default 2). */
  concurrency?: number;
  /** Lease-based leader election; disabled: this replica acts at once (single replica, tests). */
  leaderElection?: { enabled: boolean } & Partial<LeaderElectionConfig>;
  /** `host:port`, `:port`, or `0` to disable (default `0`). */
  metricsBindAddress?: string;
  /** `host:port`, `:port`, or `0` to disable (default `0`). */
  healthProbeBindAddress?: string;
  logger?: Logger;
  clock?: Clock;
  /** A shared Metrics (default: a new one with process metrics). */
  metrics?: Metrics;
  /** Event source component (default `csbs-controller`). */
  component?: string;
  /** Error backoff of every controller (default 100 ms doubling to 5 min). */
  backoff?: { baseMs?: number; maxMs?: number };
  /** Informer restart backoff (default 200 ms doubling to 30 s). */
  informerBackoff?: { baseMs?: number; maxMs?: number };
  /** Requeue delay after a 409 Conflict (default 1 s). */
  conflictRequeueMs?: number;
}

interface Route {
  runner: ControllerRunner;
  map: KeyMapper;
}

/** Runs registered reconcilers; see the module comment for the lifecycle. */
export class Manager {
  readonly client: KubeClient;
  readonly cache = new InformerCache();
  readonly metrics: Metrics;
  readonly events: EventRecorder;
  readonly clock: Clock;
  readonly log: Logger;
  readonly identity: string;
  private readonly reconcilers: Reconciler[] = [];
  private readonly runners: ControllerRunner[] = [];
  private readonly routes = new Map<string, Route[]>();
  private elector: LeaderElector | undefined;
  private servers: ProbeServer[] = [];
  private metricsServer: ProbeServer | undefined;
  private healthServer: ProbeServer | undefined;
  private started = false;
  private stopped = false;
  private leading = false;
  /** Serializes controller start/stop so a re-election never overlaps a drain. */
  private transitions: Promise<void> = Promise.resolve();
  private controllersActive = false;
  private readonly stopping = new AbortController();

  constructor(private readonly opts: ManagerOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? silentLogger();
    this.metrics = opts.metrics ?? new Metrics();
    this.client = new KubeClient(opts.kubeConfig);
    this.client.onRequest(({ method, resource, code }) =>
      this.metrics.apiRequests.inc({ verb: method, resource, code: String(code) }),
    );
    this.identity = opts.leaderElection?.identity ?? `${hostname()}_${randomBytes(4).toString('hex')}`;
    this.events = new KubeEventRecorder(this.client, {
      component: opts.component ?? 'csbs-controller',
      instance: this.identity,
      clock: this.clock,
      logger: this.log,
    });
  }

  /** Registers a reconciler; only before {@link start}. Names must be unique. */
  add(reconciler: Reconciler): void {
    if (this.started) throw new Error(`cannot add reconciler ${reconciler.name}: manager already started`);
    if (this.reconcilers.some((r) => r.name === reconciler.name))
      throw new Error(`duplicate reconciler name ${reconciler.name}`);
    this.reconcilers.push(reconciler);
  }

  /** Leadership as last known. */
  leadership(): LeadershipState {
    if (!this.opts.leaderElection?.enabled) return this.started ? 'leader' : 'unknown';
    return this.elector?.state() ?? 'unknown';
  }

  /** True while this replica's controllers may act. */
  isLeader(): boolean {
    return this.leading;
  }

  /** Ready: every cache synced and leadership known (leader or follower). */
  isReady(): boolean {
    return this.started && !this.stopped && this.cache.hasSynced() && this.leadership() !== 'unknown';
  }

  /** URL of the metrics server, when enabled. */
  metricsUrl(): string | undefined {
    return this.metricsServer?.url();
  }

  /** URL of the health probe server, when enabled. */
  healthUrl(): string | undefined {
    return this.healthServer?.url();
  }

  /** Resolves when every informer has applied its first list. */
  async waitForCacheSync(): Promise<void> {
    // Also ends on stop(), so a shutdown never waits for an API server that does not answer.
    const stopped = new Promise<void>((resolve) => {
      if (this.stopping.signal.aborted) resolve();
      else this.stopping.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await Promise.race([Promise.all(this.cache.all().map((i) => i.waitForSync())), stopped]);
  }

  /** Starts servers, informers and leader election; resolves once the servers listen. */
  async start(): Promise<void> {
    if (this.started) throw new Error('manager already started');
    this.started = true;
    const deps = {
      client: this.client,
      cache: this.cache,
      events: this.events,
      logger: this.log,
      clock: this.clock,
      metrics: this.metrics,
      concurrency: this.opts.concurrency ?? 2,
      backoff: this.opts.backoff,
      conflictRequeueMs: this.opts.conflictRequeueMs,
    };
    for (const r of this.reconcilers) {
      const runner = new ControllerRunner(r, deps);
      this.runners.push(runner);
      this.route(r.for, runner, (obj) => [keyOf(obj)]);
      for (const owned of r.owns ?? []) this.route(owned, runner, mapByOwner(r.for));
      for (const w of r.watches ?? []) this.route(w.kind, runner, w.map, w.selector);
    }
    if (this.cache.informerFor(Kinds.Backup)) this.metrics.setBackupCounter(() => this.countBackups());
    await this.startServers();
    for (const informer of this.cache.all()) informer.start();
    if (this.opts.leaderElection?.enabled) {
      const le = this.opts.leaderElection;
      this.elector = new LeaderElector({
        client: this.client,
        clock: this.clock,
        logger: this.log,
        identity: this.identity,
        leaseName: le.leaseName ?? 'csbs-controller',
        leaseNamespace: le.leaseNamespace ?? this.opts.namespace ?? 'default',
        leaseDurationMs: le.leaseDurationMs,
        renewDeadlineMs: le.renewDeadlineMs,
        retryPeriodMs: le.retryPeriodMs,
        releaseOnCancel: le.releaseOnCancel,
        onStartedLeading: () => this.setLeading(true),
        onStoppedLeading: () => this.setLeading(false),
      });
      this.elector.start();
    } else {
      this.setLeading(true);
    }
    this.log.info('manager started', {
      identity: this.identity,
      namespace: this.opts.namespace ?? '(all)',
      controllers: this.reconcilers.map((r) => r.name),
      kinds: this.cache.all().map((i) => kindId(i.kind)),
    });
  }

  /** Drains controllers, releases the lease, stops informers and servers. Idempotent. */
  async stop(): Promise<void> {
    if (!this.started || this.stopped) return;
    this.stopped = true;
    this.leading = false;
    this.stopping.abort();
    await this.enqueueTransition(() => this.stopControllers());
    await this.elector?.stop();
    this.metrics.leader.set(0);
    await Promise.all(this.cache.all().map((i) => i.stop()));
    await Promise.all(this.servers.map((s) => s.close()));
    this.servers = [];
    this.log.info('manager stopped');
  }

  private route(
    kind: ResourceKind,
    runner: ControllerRunner,
    map: KeyMapper | undefined,
    selector?: string,
  ): void {
    const id = kindId(kind);
    const existing = this.cache.informerFor(kind);
    if (existing && existing.labelSelector !== selector) {
      throw new Error(
        `${id} is cached with label selector ${JSON.stringify(existing.labelSelector ?? '')} and ${JSON.stringify(selector ?? '')}: every watch of a kind must use the same selector`,
      );
    }
    if (!existing) {
      const informer = new Informer({
        client: this.client,
        kind,
        namespace: kind.namespaced ? this.opts.namespace : undefined,
        ...(selector !== undefined ? { labelSelector: selector } : {}),
        clock: this.clock,
        logger: this.log,
        backoff: this.opts.informerBackoff,
        onRestart: () => this.metrics.informerRestarts.inc({ kind: id }),
      });
      informer.on((_type, obj) => this.dispatch(id, obj));
      this.cache.register(informer);
    }
    if (!map) return;
    const list = this.routes.get(id) ?? [];
    list.push({ runner, map });
    this.routes.set(id, list);
  }

  private dispatch(kindKey: string, obj: KubernetesObject): void {
    for (const { runner, map } of this.routes.get(kindKey) ?? []) {
      if (!runner.isRunning()) continue;
      try {
        for (const key of map(obj, this.cache)) runner.enqueue(key);
      } catch (err) {
        this.log.error('key mapping failed', {
          controller: runner.reconciler.name,
          kind: kindKey,
          ...errorFields(err),
        });
      }
    }
  }

  private setLeading(leading: boolean): void {
    if (this.stopped) return;
    this.leading = leading;
    this.metrics.leader.set(leading ? 1 : 0);
    void this.enqueueTransition(async () => {
      if (leading && !this.stopped && this.leading) {
        await this.waitForCacheSync();
        if (this.stopped || !this.leading || this.controllersActive) return;
        this.controllersActive = true;
        for (const runner of this.runners) {
          const primaries = this.cache.informerFor(runner.reconciler.for)?.list() ?? [];
          runner.start(primaries.map((o) => keyOf(o)));
        }
      } else if (!leading) {
        await this.stopControllers();
      }
    });
  }

  private async stopControllers(): Promise<void> {
    if (!this.controllersActive) return;
    this.controllersActive = false;
    await Promise.all(this.runners.map((r) => r.stop()));
  }

  private enqueueTransition(step: () => Promise<void>): Promise<void> {
    const next = this.transitions.then(step).catch((err: unknown) => {
      this.log.error('controller start/stop failed', errorFields(err));
    });
    this.transitions = next;
    return next;
  }

  private countBackups(): { phase: string; origin: string; count: number }[] {
    const counts = new Map<string, number>();
    for (const b of this.cache.list(Kinds.Backup)) {
      const key = `${b.status?.phase ?? 'Pending'}\u0000${b.spec?.origin ?? 'Unknown'}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return [...counts].map(([k, count]) => {
      const [phase, origin] = k.split('\u0000');
      return { phase, origin, count };
    });
  }

  private async startServers(): Promise<void> {
    const health = {
      '/healthz': async () => ({ code: 200, body: 'ok\n' }),
      '/readyz': async () => {
        if (this.isReady()) return { code: 200, body: 'ok\n' };
        const notSynced = this.cache
          .all()
          .filter((i) => !i.hasSynced())
          .map((i) => kindId(i.kind));
        const why = [
          notSynced.length ? `caches not synced: ${notSynced.join(', ')}` : '',
          this.leadership() === 'unknown' ? 'leadership unknown' : '',
          this.stopped ? 'shutting down' : '',
        ].filter(Boolean);
        return { code: 503, body: `not ready: ${why.join('; ')}\n` };
      },
    };
    const metrics = {
      '/metrics': async () => ({
        code: 200,
        body: await this.metrics.text(),
        contentType: this.metrics.registry.contentType,
      }),
    };
    const metricsAddr = this.opts.metricsBindAddress ?? '0';
    const healthAddr = this.opts.healthProbeBindAddress ?? '0';
    if (metricsAddr !== '0' && metricsAddr === healthAddr) {
      this.metricsServer = this.healthServer = await ProbeServer.listen(metricsAddr, {
        ...health,
        ...metrics,
      });
    } else {
      this.metricsServer = await ProbeServer.listen(metricsAddr, metrics);
      this.healthServer = await ProbeServer.listen(healthAddr, health);
    }
    this.servers = [...new Set([this.metricsServer, this.healthServer])].filter((s): s is ProbeServer =>
      Boolean(s),
    );
  }
}
