/**
 * Watches through client-node's Watch and informer: synthetic ADDED, replay from a resourceVersion,
 * 410 Expired, bookmarks, timeoutSeconds, selector transitions, shutdown, and an informer that sees
 * every change exactly once and in order across a forced 410.
 */
import { expect } from 'chai';
import * as k8s from '@kubernetes/client-node';
import type { Sandbox } from '../../../src/sandbox/index.js';
import { MERGE, eventually, sandbox } from './helpers.js';

interface Event {
  type: string;
  name: string;
  rv: string;
  object: k8s.KubernetesObject & { code?: number; reason?: string };
}

/** Starts a raw watch and collects its events; `done` resolves when the stream ends. */
async function collect(kc: k8s.KubeConfig, path: string, query: Record<string, string | number | boolean>) {
  const events: Event[] = [];
  let resolveDone!: (err: unknown) => void;
  const done = new Promise<unknown>((r) => (resolveDone = r));
  const req = await new k8s.Watch(kc).watch(
    path,
    query,
    (type, object: Event['object']) =>
      events.push({
        type,
        object,
        name: object.metadata?.name ?? '',
        rv: object.metadata?.resourceVersion ?? '',
      }),
    (err) => resolveDone(err),
  );
  return { events, done, abort: () => req.abort() };
}

describe('sandbox apiserver: watch', () => {
  let sb: Sandbox;
  let kc: k8s.KubeConfig;
  let core: k8s.CoreV1Api;
  const NS = '/api/v1/namespaces/default/configmaps';

  beforeEach(async () => {
    sb = await sandbox({ watchHistory: 50, bookmarkIntervalMs: 50 });
    kc = sb.kubeConfig();
    core = kc.makeApiClient(k8s.CoreV1Api);
  });
  afterEach(() => sb.stop());

  const cm = (name: string, labels: Record<string, string> = {}) =>
    core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name, labels } } });

  it('starts with synthetic ADDED events for resourceVersion 0, then streams live events as JSON lines', async () => {
    await cm('a');
    await cm('b');
    const w = await collect(kc, NS, { resourceVersion: '0' });
    await eventually(() => w.events.length === 2);
    expect(w.events.map((e) => `${e.type} ${e.name}`)).to.deep.equal(['ADDED a', 'ADDED b']);
    await core.patchNamespacedConfigMap(
      { name: 'a', namespace: 'default', body: { data: { x: '1' } } },
      MERGE,
    );
    const deleted = await core.deleteNamespacedConfigMap({ name: 'b', namespace: 'default' });
    await eventually(() => w.events.length === 4);
    expect(w.events.slice(2).map((e) => `${e.type} ${e.name}`)).to.deep.equal(['MODIFIED a', 'DELETED b']);
    expect(Number(w.events[3].rv)).to.be.greaterThan(Number(w.events[2].rv));
    expect(deleted).to.have.property('status', 'Success');
    w.abort();
  });

  it('replays the history after a resourceVersion', async () => {
    const a = await cm('a');
    await core.patchNamespacedConfigMap(
      { name: 'a', namespace: 'default', body: { data: { v: '2' } } },
      MERGE,
    );
    await cm('c');
    const w = await collect(kc, NS, { resourceVersion: a.metadata!.resourceVersion! });
    await eventually(() => w.events.length === 2);
    expect(w.events.map((e) => `${e.type} ${e.name}`)).to.deep.equal(['MODIFIED a', 'ADDED c']);
    w.abort();
  });

  it('sends ERROR 410 Expired and closes for a resourceVersion older than the history window', async () => {
    const first = await cm('old');
    for (let i = 0; i < 60; i++)
      await core.patchNamespacedConfigMap(
        { name: 'old', namespace: 'default', body: { data: { i: String(i) } } },
        MERGE,
      );
    const w = await collect(kc, NS, { resourceVersion: first.metadata!.resourceVersion! });
    await w.done;
    expect(w.events).to.have.length(1);
    expect(w.events[0].type).to.equal('ERROR');
    expect(w.events[0].object).to.include({ kind: 'Status', code: 410, reason: 'Expired' });
    expect((w.events[0].object as unknown as { message: string }).message).to.match(
      /^too old resource version: \d+ \(\d+\)$/,
    );
  });

  it('sends BOOKMARKs only when allowed and ends the stream after timeoutSeconds', async () => {
    const plain = await collect(kc, NS, { resourceVersion: String(sb.resourceVersion()) });
    const marked = await collect(kc, NS, {
      resourceVersion: String(sb.resourceVersion()),
      allowWatchBookmarks: true,
      timeoutSeconds: 1,
    });
    await eventually(() => marked.events.some((e) => e.type === 'BOOKMARK'));
    const bookmark = marked.events.find((e) => e.type === 'BOOKMARK')!;
    expect(bookmark.object.kind).to.equal('ConfigMap');
    expect(bookmark.rv).to.equal(String(sb.resourceVersion()));
    const started = Date.now();
    expect(await marked.done).to.equal(null);
    expect(Date.now() - started).to.be.lessThan(1500);
    expect(plain.events).to.deep.equal([]);
    plain.abort();
  });

  it('reports objects entering and leaving a label selection as ADDED and DELETED', async () => {
    await cm('x', { pick: 'no' });
    const w = await collect(kc, NS, { resourceVersion: '0', labelSelector: 'pick=yes' });
    await core.patchNamespacedConfigMap(
      { name: 'x', namespace: 'default', body: { metadata: { labels: { pick: 'yes' } } } },
      MERGE,
    );
    await core.patchNamespacedConfigMap(
      { name: 'x', namespace: 'default', body: { data: { d: '1' } } },
      MERGE,
    );
    await core.patchNamespacedConfigMap(
      { name: 'x', namespace: 'default', body: { metadata: { labels: { pick: 'no' } } } },
      MERGE,
    );
    await eventually(() => w.events.length === 3);
    expect(w.events.map((e) => e.type)).to.deep.equal(['ADDED', 'MODIFIED', 'DELETED']);
    w.abort();
  });

  it('keeps streams open until shutdown, then closes them all', async () => {
    const w = await collect(kc, NS, { resourceVersion: '0' });
    await new Promise((r) => setTimeout(r, 200));
    expect(sb.apiServer.openWatches).to.equal(1);
    await sb.stop();
    expect(await w.done).to.equal(null);
    sb = await sandbox();
  });

  it('lets an informer see every change exactly once and in order across a forced 410', async () => {
    const seen: Array<{ verb: string; name: string; rv: number }> = [];
    const informer = k8s.makeInformer(kc, NS, () => core.listNamespacedConfigMap({ namespace: 'default' }));
    for (const verb of ['add', 'update', 'delete'] as const) {
      informer.on(verb, (o: k8s.V1ConfigMap) =>
        seen.push({ verb, name: o.metadata!.name!, rv: Number(o.metadata!.resourceVersion) }),
      );
    }
    let errors = 0;
    informer.on('error', () => errors++);
    for (let i = 0; i < 10; i++) await cm(`o${i}`);
    await informer.start();
    await eventually(() => seen.length === 10);

    // Live changes, then a gap: events are held back while more changes happen, the history is
    // compacted, and every stream is dropped with ERROR 410, so the informer must re-list.
    for (let i = 0; i < 5; i++)
      await core.patchNamespacedConfigMap(
        { name: `o${i}`, namespace: 'default', body: { data: { live: '1' } } },
        MERGE,
      );
    await eventually(() => seen.length === 15);
    sb.apiServer.pauseWatchEvents();
    for (let i = 5; i < 8; i++)
      await core.patchNamespacedConfigMap(
        { name: `o${i}`, namespace: 'default', body: { data: { gap: '1' } } },
        MERGE,
      );
    await core.deleteNamespacedConfigMap({ name: 'o9', namespace: 'default' });
    await cm('n1');
    sb.compactHistory();
    sb.dropWatches({ expired: true });
    sb.apiServer.resumeWatchEvents();
    await eventually(() => seen.length === 20);
    // After the re-list the informer watches again: later changes arrive live.
    await core.patchNamespacedConfigMap(
      { name: 'o0', namespace: 'default', body: { data: { after: '1' } } },
      MERGE,
    );
    await eventually(() => seen.length === 21);
    await new Promise((r) => setTimeout(r, 100));
    // client-node 1.4 reports its own abort on stop() as an error: count only the ones before.
    expect(errors).to.equal(0);
    await informer.stop();

    expect(seen).to.have.length(21, 'no duplicates and nothing missed');
    const byName = new Map<string, typeof seen>();
    for (const e of seen) byName.set(e.name, [...(byName.get(e.name) ?? []), e]);
    for (const [name, events] of byName) {
      const rvs = events.map((e) => e.rv);
      expect(rvs, `${name} in order`).to.deep.equal([...rvs].sort((a, b) => a - b));
      // A deletion found by a re-list carries the last state the informer knew (same version as before).
      const versions = events.map((e) => `${e.verb}@${e.rv}`);
      expect(new Set(versions).size, `${name} once per version`).to.equal(versions.length);
    }
    expect(byName.get('o5')!.map((e) => e.verb)).to.deep.equal(['add', 'update']);
    expect(byName.get('o9')!.map((e) => e.verb)).to.deep.equal(['add', 'delete']);
    expect(byName.get('n1')!.map((e) => e.verb)).to.deep.equal(['add']);
    expect(byName.get('o0')!.map((e) => e.verb)).to.deep.equal(['add', 'update', 'update']);
    const final = await core.listNamespacedConfigMap({ namespace: 'default' });
    expect(
      informer
        .list('default')
        .map((o) => o.metadata?.resourceVersion)
        .sort(),
    ).to.deep.equal(final.items.map((o) => o.metadata?.resourceVersion).sort());
  });
});
