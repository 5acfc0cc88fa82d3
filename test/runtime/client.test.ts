import { expect } from 'chai';
import { Kinds } from '../../src/runtime/kinds.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../../src/runtime/client.js';
import {
  ApiError,
  isAlreadyExists,
  isConflict,
  isInvalid,
  isNotFound,
  isTransient,
} from '../../src/runtime/errors.js';
import { addFinalizer, hasFinalizer, removeFinalizer } from '../../src/runtime/finalizers.js';
import { setCondition } from '../../src/runtime/conditions.js';
import { configMap, installWidgetCrd, namespace, useSandbox, widget, WidgetKind } from './helpers.js';

describe('runtime/client against the sandbox', () => {
  const { sb, client } = useSandbox();
  before(async () => installWidgetCrd(client()));

  it('creates, reads, lists by label, replaces and deletes built-in objects', async () => {
    const c = client();
    const ns = await namespace(c, 'client');
    const created = await c.create(Kinds.ConfigMap, configMap(ns, 'a', { k: 'v' }, { app: 'x' }));
    expect(created.metadata?.uid).to.be.a('string');
    await c.create(Kinds.ConfigMap, configMap(ns, 'b', {}, { app: 'y' }));
    expect((await c.get(Kinds.ConfigMap, ns, 'a')).data).to.deep.equal({ k: 'v' });
    const listed = await c.list(Kinds.ConfigMap, ns, { labelSelector: 'app=x' });
    expect(listed.items.map((i) => i.metadata?.name)).to.deep.equal(['a']);
    expect(listed.items[0].kind).to.equal('ConfigMap');
    expect(Number(listed.resourceVersion)).to.be.greaterThan(0);
    const replaced = await c.replace(Kinds.ConfigMap, { ...created, data: { k: 'w' } });
    expect(replaced.data).to.deep.equal({ k: 'w' });
    expect(await c.delete(Kinds.ConfigMap, ns, 'a')).to.equal(true);
    expect(await c.tryGet(Kinds.ConfigMap, ns, 'a')).to.equal(undefined);
    expect(await c.delete(Kinds.ConfigMap, ns, 'a', { ignoreNotFound: true })).to.equal(false);
  });

  it('classifies API errors from the Status body', async () => {
    const c = client();
    const ns = await namespace(c, 'errors');
    const first = await c.create(Kinds.ConfigMap, configMap(ns, 'a'));
    const notFound = await c.get(Kinds.ConfigMap, ns, 'missing').catch((e: unknown) => e);
    expect(isNotFound(notFound)).to.equal(true);
    expect((notFound as ApiError).message).to.match(/configmaps "missing" not found/);
    const exists = await c.create(Kinds.ConfigMap, configMap(ns, 'a')).catch((e: unknown) => e);
    expect(isAlreadyExists(exists)).to.equal(true);
    expect(isConflict(exists)).to.equal(false, 'AlreadyExists and Conflict share 409');
    await c.replace(Kinds.ConfigMap, { ...first, data: { x: '1' } });
    const stale = await c.replace(Kinds.ConfigMap, { ...first, data: { x: '2' } }).catch((e: unknown) => e);
    expect(isConflict(stale)).to.equal(true);
    // An illegal object name is refused with 422 Invalid and a field cause.
    const invalid = await c.create(WidgetKind, widget(ns, 'Bad_Name')).catch((e: unknown) => e);
    expect(isInvalid(invalid), String(invalid)).to.equal(true);
    expect((invalid as ApiError).causes.map((x) => x.field)).to.include('metadata.name');
  });

  it('patchStatus merge-patches the status subresource of a custom resource', async () => {
    const c = client();
    const ns = await namespace(c, 'status');
    const b = await c.create(WidgetKind, widget(ns, 'bk-0001'));
    const conditions = setCondition(
      undefined,
      { type: 'Ready', status: 'False', reason: 'Pending', message: 'm', observedGeneration: 1 },
      new Date(),
    );
    const patched = await c.patchStatus(WidgetKind, ns, 'bk-0001', { phase: 'Snapshotting', conditions });
    expect(patched.status?.phase).to.equal('Snapshotting');
    expect(patched.metadata?.generation).to.equal(
      b.metadata?.generation,
      'status writes never bump generation',
    );
    // a second patch merges: phase stays, progress is added
    const again = await c.patchStatus(WidgetKind, ns, 'bk-0001', { progress: { percent: 50 } });
    expect(again.status?.phase).to.equal('Snapshotting');
    expect(again.status?.progress?.percent).to.equal(50);
    // guarded by resourceVersion: a stale one is a Conflict
    const stale = await c
      .patchStatus(
        WidgetKind,
        ns,
        'bk-0001',
        { phase: 'Failed' },
        { resourceVersion: patched.metadata?.resourceVersion },
      )
      .catch((e: unknown) => e);
    expect(isConflict(stale)).to.equal(true);
    // the main resource ignores status; merge patch of metadata works on a CR (strategic merge would 415)
    const labelled = await c.patch(WidgetKind, ns, 'bk-0001', {
      metadata: { labels: { a: 'b' } },
      status: { phase: 'Failed' },
    });
    expect(labelled.metadata?.labels).to.deep.equal({ a: 'b' });
    expect(labelled.status?.phase).to.equal('Snapshotting');
  });

  it('adds and removes finalizers; removing the last one lets a deleted object go', async () => {
    const c = client();
    const ns = await namespace(c, 'fin');
    let b = await c.create(WidgetKind, widget(ns, 'bk-0002'));
    b = await addFinalizer(c, WidgetKind, b, 'csbs.dev/delete-backup-data');
    expect(hasFinalizer(b, 'csbs.dev/delete-backup-data')).to.equal(true);
    const same = await addFinalizer(c, WidgetKind, b, 'csbs.dev/delete-backup-data');
    expect(same.metadata?.resourceVersion).to.equal(b.metadata?.resourceVersion, 'no write when present');
    await c.delete(WidgetKind, ns, 'bk-0002');
    const deleting = await c.get(WidgetKind, ns, 'bk-0002');
    expect(deleting.metadata?.deletionTimestamp).to.be.a('string');
    // a stale copy cannot drop the finalizer list
    const stale = await removeFinalizer(c, WidgetKind, b, 'csbs.dev/delete-backup-data').catch(
      (e: unknown) => e,
    );
    expect(isConflict(stale)).to.equal(true);
    await removeFinalizer(c, WidgetKind, deleting, 'csbs.dev/delete-backup-data');
    expect(await c.tryGet(WidgetKind, ns, 'bk-0002')).to.equal(undefined);
  });

  it('reports transport failures as ApiError code 0 and server faults by code', async () => {
    const c = client();
    const ns = await namespace(c, 'faults');
    sb().failNext({ method: 'GET', path: new RegExp(`/namespaces/${ns}/configmaps/a$`), code: 500 });
    const fault = await c.get(Kinds.ConfigMap, ns, 'a').catch((e: unknown) => e);
    expect(fault).to.be.instanceOf(ApiError);
    expect((fault as ApiError).code).to.equal(500);
    expect(isTransient(fault)).to.equal(true);
    const unknown = await c
      .request({ method: 'GET', path: '/apis/nowhere.example/v1/things' })
      .catch((e: unknown) => e);
    expect(isNotFound(unknown)).to.equal(true);
    // Nothing listens on a port we just closed.
    const srv = createServer();
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const port = (srv.address() as AddressInfo).port;
    await new Promise((resolve) => srv.close(resolve));
    const kc = new KubeConfig();
    kc.loadFromClusterAndUser(
      { name: 'x', server: `http://127.0.0.1:${port}`, skipTLSVerify: true },
      { name: 'u' },
    );
    const down = await new KubeClient(kc).get(Kinds.ConfigMap, ns, 'a').catch((e: unknown) => e);
    expect(down).to.be.instanceOf(ApiError);
    expect((down as ApiError).code).to.equal(0);
    expect(isTransient(down)).to.equal(true);
    expect((down as ApiError).message).to.match(/ECONNREFUSED/);
  });
});
