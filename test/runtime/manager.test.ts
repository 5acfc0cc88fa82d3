import { expect } from 'chai';
import type { CoreV1Event } from '@kubernetes/client-node';
import { deepEqual } from '../../src/runtime/equality.js';
import { Kinds } from '../../src/runtime/kinds.js';
import { Manager, type ManagerOptions } from '../../src/runtime/manager.js';
import {
  controllerRef,
  mapByLabel,
  watch,
  type ObjectKey,
  type Reconciler,
} from '../../src/runtime/reconciler.js';
import {
  configMap,
  eventually,
  installWidgetCrd,
  namespace,
  useSandbox,
  widget,
  WidgetKind,
  type Widget,
} from './helpers.js';

// Released leases change hands at the next retry; the duration only matters if a leader stalls,
// so it is long enough that a loaded CI machine never hands leadership over by accident.
const fastLease = { leaseDurationMs: 4000, renewDeadlineMs: 3000, retryPeriodMs: 100 };

interface Call {
  manager: string;
  key: string;
}

/**
 * An idempotent reconciler: status.children = how many labelled ConfigMaps and owned Secrets the Widget
 * has (read from the cache), written only when it differs; each run is also told in an Event.
 */
function widgetReconciler(manager: string, calls: Call[]): Reconciler {
  return {
    name: 'widget',
    for: WidgetKind,
    owns: [Kinds.Secret],
    watches: [watch(Kinds.ConfigMap, mapByLabel('csbs.dev/backup'))],
    async reconcile(key: ObjectKey, ctx) {
      calls.push({ manager, key: `${key.namespace}/${key.name}` });
      const w = ctx.cache.get(WidgetKind, key.namespace, key.name);
      if (!w) return;
      const labelled = ctx.cache.list(Kinds.ConfigMap, {
        namespace: key.namespace,
        labels: { 'csbs.dev/backup': key.name },
      });
      const owned = ctx.cache
        .list(Kinds.Secret, { namespace: key.namespace })
        .filter((s) => s.metadata?.ownerReferences?.some((o) => o.uid === w.metadata?.uid));
      const status = { phase: 'Seen', children: labelled.length + owned.length };
      if (!deepEqual({ phase: w.status?.phase, children: childrenOf(w) }, status)) {
        await ctx.client.patchStatus(WidgetKind, key.namespace, key.name, status);
      }
      await ctx.events.normal(w, 'Reconciled', `seen by ${manager}`);
    },
  };
}

function childrenOf(w: Widget | undefined): number | undefined {
  return (w?.status as { children?: number } | undefined)?.children;
}

async function get(url: string): Promise<{ code: number; body: string }> {
  const res = await fetch(url);
  return { code: res.status, body: await res.text() };
}

describe('runtime/manager against the sandbox', function () {
  this.timeout(20_000);
  const { sb, client } = useSandbox();
  const managers: Manager[] = [];
  before(async () => installWidgetCrd(client()));
  afterEach(async () => {
    await Promise.all(managers.splice(0).map((m) => m.stop()));
  });

  function manager(opts: Partial<ManagerOptions>, reconciler: Reconciler): Manager {
    const m = new Manager({
      kubeConfig: sb().kubeConfig(),
      metricsBindAddress: '127.0.0.1:0',
      healthProbeBindAddress: '127.0.0.1:0',
      metrics: undefined,
      ...opts,
    });
    m.add(reconciler);
    managers.push(m);
    return m;
  }

  it('reconciles the primary kind, owned and label-mapped children; records events; serves probes and metrics', async () => {
    const c = client();
    const ns = await namespace(c, 'mgr');
    const calls: Call[] = [];
    const m = manager({ namespace: ns, leaderElection: { enabled: false } }, widgetReconciler('m', calls));
    await c.create(WidgetKind, widget(ns, 'pre'));
    await m.start();
    expect((await get(`${m.healthUrl()}/healthz`)).code).to.equal(200);
    await eventually(async () => (await get(`${m.healthUrl()}/readyz`)).code === 200, 5000, 'ready');
    // existing objects are reconciled at start
    await eventually(
      async () => (await c.get(WidgetKind, ns, 'pre')).status?.phase === 'Seen',
      5000,
      'pre reconciled',
    );

    const w = await c.create(WidgetKind, widget(ns, 'w1'));
    await eventually(async () => childrenOf(await c.get(WidgetKind, ns, 'w1')) === 0, 5000, 'w1 reconciled');
    // a ConfigMap labelled csbs.dev/backup=w1 enqueues Widget w1
    await c.create(Kinds.ConfigMap, configMap(ns, 'job-like', {}, { 'csbs.dev/backup': 'w1' }));
    await eventually(
      async () => childrenOf(await c.get(WidgetKind, ns, 'w1')) === 1,
      5000,
      'labelled ConfigMap counted',
    );
    // a Secret owned by w1 enqueues it too
    await c.create(Kinds.Secret, {
      metadata: { namespace: ns, name: 'owned', ownerReferences: [controllerRef(w, WidgetKind)] },
    });
    await eventually(
      async () => childrenOf(await c.get(WidgetKind, ns, 'w1')) === 2,
      5000,
      'owned Secret counted',
    );

    // events: involvedObject set, repeats aggregated into count
    const events = await eventually(
      async () => {
        const list = (await c.list(Kinds.Event, ns)).items.filter(
          (e: CoreV1Event) => e.involvedObject.name === 'w1',
        );
        return list.length > 0 && (list[0].count ?? 0) >= 3 ? list : undefined;
      },
      5000,
      'aggregated event',
    );
    if (!events) throw new Error('no events');
    expect(events).to.have.length(1);
    expect(events[0].involvedObject).to.include({
      kind: 'Widget',
      name: 'w1',
      namespace: ns,
      uid: w.metadata?.uid,
    });
    expect(events[0]).to.include({ type: 'Normal', reason: 'Reconciled', message: 'seen by m' });

    const metrics = await get(`${m.metricsUrl()}/metrics`);
    expect(metrics.code).to.equal(200);
    expect(metrics.body).to.match(/csbs_reconcile_total\{controller="widget",result="success"\} [1-9]/);
    expect(metrics.body).to.match(/csbs_workqueue_depth\{controller="widget"\} 0/);
    expect(metrics.body).to.match(/csbs_leader 1/);
    expect(metrics.body).to.match(
      /csbs_kube_api_requests_total\{verb="PATCH",resource="widgets\/status",code="200"\} [1-9]/,
    );
    expect(metrics.body).to.match(/process_resident_memory_bytes/);
    expect((await get(`${m.healthUrl()}/nope`)).code).to.equal(404);
  });

  it('reports not ready while leadership is unknown', async () => {
    const ns = await namespace(client(), 'ready');
    sb().failNext({ path: new RegExp(`/namespaces/${ns}/leases`), count: 10_000, code: 500 });
    const m = manager(
      { namespace: ns, leaderElection: { enabled: true, leaseNamespace: ns, identity: 'x', ...fastLease } },
      widgetReconciler('x', []),
    );
    await m.start();
    await m.waitForCacheSync();
    await new Promise((r) => setTimeout(r, 300));
    const ready = await get(`${m.healthUrl()}/readyz`);
    expect(ready.code).to.equal(503);
    expect(ready.body).to.match(/leadership unknown/);
    sb().apiServer.faults.clear();
    await eventually(
      async () => (await get(`${m.healthUrl()}/readyz`)).code === 200,
      5000,
      'ready once the lease answers',
    );
  });

  it('with two replicas only the leader reconciles; the other takes over when it stops', async () => {
    const c = client();
    const ns = await namespace(c, 'ha');
    const calls: Call[] = [];
    const le = (identity: string) => ({
      enabled: true,
      leaseName: 'ha',
      leaseNamespace: ns,
      identity,
      ...fastLease,
    });
    const a = manager({ namespace: ns, leaderElection: le('a') }, widgetReconciler('a', calls));
    const b = manager({ namespace: ns, leaderElection: le('b') }, widgetReconciler('b', calls));
    await a.start();
    await eventually(() => a.isLeader(), 5000, 'a leads');
    await b.start();
    await eventually(() => b.isReady(), 5000, 'b ready as follower');
    expect(b.isLeader()).to.equal(false);

    for (let i = 0; i < 3; i++) await c.create(WidgetKind, widget(ns, `w${i}`));
    await eventually(() => calls.filter((x) => x.manager === 'a').length >= 3, 5000, 'a reconciles');
    await new Promise((r) => setTimeout(r, 300));
    expect(calls.filter((x) => x.manager === 'b')).to.deep.equal([], 'the follower never acts');

    await a.stop();
    managers.shift();
    const aCalls = calls.filter((x) => x.manager === 'a').length;
    await eventually(() => b.isLeader(), 5000, 'b takes over');
    // b starts with every cached widget queued, and follows new changes
    await eventually(
      () => new Set(calls.filter((x) => x.manager === 'b').map((x) => x.key)).size >= 3,
      5000,
      'b resyncs',
    );
    await c.create(WidgetKind, widget(ns, 'after'));
    await eventually(
      async () => (await c.get(WidgetKind, ns, 'after')).status?.phase === 'Seen',
      5000,
      'b reconciles new',
    );
    expect(calls.filter((x) => x.manager === 'a').length).to.equal(aCalls, 'a stopped acting');
  });

  it('retries a failing reconcile with backoff and reports errors in metrics', async () => {
    const c = client();
    const ns = await namespace(c, 'retry');
    let failures = 2;
    const seen: number[] = [];
    const r: Reconciler = {
      name: 'flaky',
      for: WidgetKind,
      async reconcile(key, ctx) {
        seen.push(Date.now());
        if (failures-- > 0) throw new Error('transient trouble');
        const w = ctx.cache.get(WidgetKind, key.namespace, key.name) as Widget;
        await ctx.client.patchStatus(
          WidgetKind,
          key.namespace,
          key.name,
          { phase: 'Done' },
          { resourceVersion: w.metadata?.resourceVersion },
        );
      },
    };
    const m = manager(
      { namespace: ns, leaderElection: { enabled: false }, backoff: { baseMs: 50, maxMs: 500 } },
      r,
    );
    await m.start();
    await c.create(WidgetKind, widget(ns, 'f'));
    await eventually(
      async () => (await c.get(WidgetKind, ns, 'f')).status?.phase === 'Done',
      5000,
      'done after retries',
    );
    expect(seen.length).to.be.at.least(3);
    expect(seen[2] - seen[1]).to.be.at.least(90, 'second retry waited about twice the first');
    const metrics = await get(`${m.metricsUrl()}/metrics`);
    expect(metrics.body).to.match(/csbs_reconcile_errors_total\{controller="flaky"\} 2/);
  });

  it('caches only the labelled objects of a kind watched with a selector; selectors of a kind must agree', async () => {
    const c = client();
    const ns = await namespace(c, 'sel');
    const cm = (name: string, labels: Record<string, string>) =>
      c.create(Kinds.ConfigMap, { metadata: { name, namespace: ns, labels } });
    await cm('ours', { 'csbs.dev/backup': 'w', mine: 'yes' });
    await cm('foreign', { 'csbs.dev/backup': 'w' });
    const reconciler = (selector?: string): Reconciler => ({
      name: `sel-${selector ?? 'all'}`,
      for: WidgetKind,
      watches: [{ ...watch(Kinds.ConfigMap, mapByLabel('csbs.dev/backup')), selector }],
      async reconcile() {},
    });
    const m = manager({ namespace: ns, leaderElection: { enabled: false } }, reconciler('mine=yes'));
    await m.start();
    await m.waitForCacheSync();
    await cm('later', { 'csbs.dev/backup': 'w', mine: 'yes' });
    await eventually(
      () => m.cache.list(Kinds.ConfigMap, { namespace: ns }).length === 2,
      5000,
      'later cached',
    );
    expect(m.cache.list(Kinds.ConfigMap, { namespace: ns }).map((o) => o.metadata?.name)).to.have.members([
      'ours',
      'later',
    ]);

    const clash = manager({ namespace: ns, leaderElection: { enabled: false } }, reconciler('mine=yes'));
    clash.add(reconciler());
    let error: Error | undefined;
    await clash.start().catch((err: Error) => (error = err));
    expect(error?.message).to.match(
      /ConfigMap is cached with label selector "mine=yes" and "": every watch of a kind/,
    );
  });
});
