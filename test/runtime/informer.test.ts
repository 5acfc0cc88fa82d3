import { expect } from 'chai';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { Informer, type InformerEventType } from '../../src/runtime/informer.js';
import { Kinds } from '../../src/runtime/kinds.js';
import { defineKind } from '../../src/runtime/kinds.js';
import {
  configMap,
  eventually,
  installWidgetCrd,
  namespace,
  useSandbox,
  widget,
  WidgetKind,
} from './helpers.js';

interface Seen {
  type: InformerEventType;
  name: string;
  value?: string;
}

describe('runtime/informer against the sandbox', () => {
  const { sb, client } = useSandbox({ watchHistory: 50 });
  let informer: Informer<V1ConfigMap> | undefined;
  afterEach(async () => informer?.stop());

  async function startInformer(
    ns: string,
    restarts?: unknown[],
  ): Promise<{ seen: Seen[]; inf: Informer<V1ConfigMap> }> {
    const seen: Seen[] = [];
    const inf = new Informer<V1ConfigMap>({
      client: client(),
      kind: Kinds.ConfigMap,
      namespace: ns,
      backoff: { baseMs: 20, maxMs: 200 },
      minWatchMs: 0,
      onRestart: (err) => restarts?.push(err),
    });
    inf.on((type, obj) => seen.push({ type, name: obj.metadata?.name ?? '', value: obj.data?.v }));
    inf.start();
    await inf.waitForSync();
    informer = inf;
    return { seen, inf };
  }

  it('lists, then sees create, update and delete in order, and serves them from its cache', async () => {
    const c = client();
    const ns = await namespace(c, 'inf');
    await c.create(Kinds.ConfigMap, configMap(ns, 'pre', { v: '0' }));
    const { seen, inf } = await startInformer(ns);
    expect(inf.hasSynced()).to.equal(true);
    expect(seen).to.deep.equal([{ type: 'add', name: 'pre', value: '0' }]);
    const a = await c.create(Kinds.ConfigMap, configMap(ns, 'a', { v: '1' }));
    await c.replace(Kinds.ConfigMap, { ...a, data: { v: '2' } });
    await c.delete(Kinds.ConfigMap, ns, 'pre');
    await eventually(() => seen.length === 4, 5000, 'three watch events');
    expect(seen.slice(1)).to.deep.equal([
      { type: 'add', name: 'a', value: '1' },
      { type: 'update', name: 'a', value: '2' },
      { type: 'delete', name: 'pre', value: '0' },
    ]);
    expect(inf.get(ns, 'a')?.data?.v).to.equal('2');
    expect(inf.get(ns, 'pre')).to.equal(undefined);
    expect(inf.list(ns).map((o) => o.metadata?.name)).to.deep.equal(['a']);
  });

  it('re-lists after a forced 410 and catches up with changes made meanwhile, deletes included', async () => {
    const c = client();
    const ns = await namespace(c, 'gone');
    await c.create(Kinds.ConfigMap, configMap(ns, 'stay', { v: '1' }));
    await c.create(Kinds.ConfigMap, configMap(ns, 'doomed', { v: '1' }));
    const restarts: unknown[] = [];
    const { seen, inf } = await startInformer(ns, restarts);
    seen.length = 0;
    // Make our watch expire: history compacted, streams closed with an ERROR 410 first.
    sb().compactHistory();
    sb().dropWatches({ expired: true });
    // Changes while we are away (some may arrive on the old stream first: both are fine).
    await c.delete(Kinds.ConfigMap, ns, 'doomed');
    const stay = await c.get(Kinds.ConfigMap, ns, 'stay');
    await c.replace(Kinds.ConfigMap, { ...stay, data: { v: '2' } });
    await c.create(Kinds.ConfigMap, configMap(ns, 'new', { v: '1' }));
    await eventually(
      () =>
        inf.get(ns, 'doomed') === undefined &&
        inf.get(ns, 'stay')?.data?.v === '2' &&
        inf.get(ns, 'new') !== undefined,
      5000,
      'cache caught up after 410',
    );
    expect(seen.filter((s) => s.type === 'delete').map((s) => s.name)).to.deep.equal(['doomed']);
    expect(seen.filter((s) => s.name === 'new' && s.type === 'add')).to.have.length(1);
    // Still watching afterwards.
    await c.create(Kinds.ConfigMap, configMap(ns, 'after', { v: '1' }));
    await eventually(() => inf.get(ns, 'after'), 5000, 'event after re-list');
  });

  it('resumes after a dropped watch without losing or repeating events', async () => {
    const c = client();
    const ns = await namespace(c, 'drop');
    const { seen, inf } = await startInformer(ns);
    for (let round = 0; round < 3; round++) {
      // Drop our stream as soon as it is (re)established.
      await eventually(() => sb().dropWatches() > 0, 5000, 'a watch to drop');
      await c.create(Kinds.ConfigMap, configMap(ns, `cm-${round}`, { v: String(round) }));
    }
    await eventually(() => inf.list(ns).length === 3, 5000, 'three objects after drops');
    expect(seen.map((s) => `${s.type}:${s.name}`)).to.deep.equal(['add:cm-0', 'add:cm-1', 'add:cm-2']);
  });

  it('restarts with backoff when list and watch requests fail, instead of stopping', async () => {
    const c = client();
    const ns = await namespace(c, 'fail');
    const restarts: unknown[] = [];
    const { inf } = await startInformer(ns, restarts);
    // The next reconnect (watch) and the two after it fail with 500; client-node's ListWatch alone would stop.
    sb().failNext({ method: 'GET', path: new RegExp(`/namespaces/${ns}/configmaps`), count: 3, code: 500 });
    sb().dropWatches();
    await c.create(Kinds.ConfigMap, configMap(ns, 'later', { v: '1' }));
    await eventually(() => inf.get(ns, 'later'), 5000, 'object seen after failures');
    expect(restarts.length).to.be.at.least(1);
    expect(inf.restartCount()).to.equal(restarts.length);
  });

  it('counts a kind the server does not serve as synced and empty, and picks it up once its CRD appears', async () => {
    const c = client();
    const ns = await namespace(c, 'absent');
    const missing = defineKind({
      group: 'nowhere.csbs.dev',
      version: 'v1',
      kind: 'Ghost',
      plural: 'ghosts',
      namespaced: true,
    });
    const ghost = new Informer({
      client: c,
      kind: missing,
      namespace: ns,
      backoff: { baseMs: 20, maxMs: 100 },
    });
    ghost.start();
    await ghost.waitForSync();
    expect(ghost.hasSynced()).to.equal(true);
    expect(ghost.list()).to.deep.equal([]);
    await ghost.stop();
    // The same for a kind whose CRD is installed later: the informer keeps trying and then watches it.
    const widgets = new Informer({
      client: c,
      kind: WidgetKind,
      namespace: ns,
      backoff: { baseMs: 20, maxMs: 100 },
    });
    try {
      widgets.start();
      await widgets.waitForSync();
      if ((await c.list(WidgetKind).catch(() => undefined)) === undefined) await installWidgetCrd(c);
      await c.create(WidgetKind, widget(ns, 'late'));
      await eventually(() => widgets.get(ns, 'late'), 5000, 'object of a late CRD');
    } finally {
      await widgets.stop();
    }
  });
});
