/** DELETE: finalizers, ownerReference garbage collection (background, foreground, orphan), namespaces. */
import { expect } from 'chai';
import * as k8s from '@kubernetes/client-node';
import type { Sandbox } from '../../../src/sandbox/index.js';
import { JSON_PATCH, MERGE, eventually, rejection, sandbox, widget, type Obj } from './helpers.js';

describe('sandbox apiserver: delete, finalizers and garbage collection', () => {
  let sb: Sandbox;
  let core: k8s.CoreV1Api;
  let custom: k8s.CustomObjectsApi;
  const W = { group: 'test.csbs.dev', version: 'v1', namespace: 'default', plural: 'widgets' };

  before(async () => {
    sb = await sandbox();
    core = sb.kubeConfig().makeApiClient(k8s.CoreV1Api);
    custom = sb.kubeConfig().makeApiClient(k8s.CustomObjectsApi);
  });
  after(() => sb.stop());

  const gone = async (fn: () => Promise<unknown>): Promise<boolean> => {
    try {
      await fn();
      return false;
    } catch (err) {
      return (err as { code?: number }).code === 404;
    }
  };
  const owned = (owner: Obj | k8s.V1ConfigMap, blockOwnerDeletion = false) => [
    {
      apiVersion: owner.apiVersion ?? 'v1',
      kind: owner.kind ?? 'ConfigMap',
      name: owner.metadata!.name!,
      uid: owner.metadata!.uid!,
      blockOwnerDeletion,
    },
  ];

  it('keeps an object with finalizers until an update empties them; no new finalizers once deleting', async () => {
    await custom.createNamespacedCustomObject({
      ...W,
      body: widget('f1', {}, { metadata: { name: 'f1', finalizers: ['csbs.dev/keep'] } }),
    });
    const deleting = (await custom.deleteNamespacedCustomObject({ ...W, name: 'f1' })) as Obj;
    expect(deleting.metadata.deletionTimestamp).to.be.a('string');
    const still = (await custom.getNamespacedCustomObject({ ...W, name: 'f1' })) as Obj;
    expect(still.metadata.deletionTimestamp).to.equal(deleting.metadata.deletionTimestamp);
    const added = await rejection(() =>
      custom.patchNamespacedCustomObject(
        { ...W, name: 'f1', body: { metadata: { finalizers: ['csbs.dev/keep', 'csbs.dev/more'] } } },
        MERGE,
      ),
    );
    expect(added.code).to.equal(422);
    expect(added.message).to.contain(
      'metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{"csbs.dev/more"}',
    );
    const moved = (await custom.patchNamespacedCustomObject(
      { ...W, name: 'f1', body: { metadata: { deletionTimestamp: '2000-01-01T00:00:00Z' } } },
      MERGE,
    )) as Obj;
    expect(moved.metadata.deletionTimestamp).to.equal(
      deleting.metadata.deletionTimestamp,
      'deletionTimestamp is immutable',
    );
    await custom.patchNamespacedCustomObject(
      { ...W, name: 'f1', body: [{ op: 'remove', path: '/metadata/finalizers' }] },
      JSON_PATCH,
    );
    expect(await gone(() => custom.getNamespacedCustomObject({ ...W, name: 'f1' }))).to.equal(true);
  });

  it('honours delete preconditions', async () => {
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'pre' } } });
    const st = await rejection(() =>
      core.deleteNamespacedConfigMap({
        name: 'pre',
        namespace: 'default',
        body: { preconditions: { uid: 'not-the-uid' } },
      }),
    );
    expect(st.code).to.equal(409);
    expect(st.message).to.contain('Precondition failed: UID in precondition: not-the-uid');
    await core.deleteNamespacedConfigMap({ name: 'pre', namespace: 'default' });
  });

  it('garbage-collects dependents in the background once their owner is gone', async () => {
    const owner = await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'owner-bg' } },
    });
    const ownerObj = { ...owner, apiVersion: 'v1', kind: 'ConfigMap' };
    await custom.createNamespacedCustomObject({
      ...W,
      body: widget('dep-bg', {}, { metadata: { name: 'dep-bg', ownerReferences: owned(ownerObj) } }),
    });
    await core.createNamespacedSecret({
      namespace: 'default',
      body: { metadata: { name: 'dep-bg2', ownerReferences: owned(ownerObj) } },
    });
    await core.deleteNamespacedConfigMap({ name: 'owner-bg', namespace: 'default' });
    await eventually(() => gone(() => custom.getNamespacedCustomObject({ ...W, name: 'dep-bg' })));
    await eventually(() => gone(() => core.readNamespacedSecret({ name: 'dep-bg2', namespace: 'default' })));
  });

  it('deletes in the foreground: the owner waits (foregroundDeletion) until its dependents are gone', async () => {
    const owner = (await custom.createNamespacedCustomObject({ ...W, body: widget('owner-fg') })) as Obj;
    await custom.createNamespacedCustomObject({
      ...W,
      body: widget(
        'dep-fg',
        {},
        { metadata: { name: 'dep-fg', finalizers: ['csbs.dev/slow'], ownerReferences: owned(owner, true) } },
      ),
    });
    const res = (await custom.deleteNamespacedCustomObject({
      ...W,
      name: 'owner-fg',
      body: { propagationPolicy: 'Foreground' },
    })) as Obj;
    expect(res.metadata.finalizers).to.deep.equal(['foregroundDeletion']);
    const dep = await eventually(async () => {
      const d = (await custom.getNamespacedCustomObject({ ...W, name: 'dep-fg' })) as Obj;
      return d.metadata.deletionTimestamp ? d : undefined;
    });
    expect(dep.metadata.finalizers).to.include('csbs.dev/slow');
    expect(
      ((await custom.getNamespacedCustomObject({ ...W, name: 'owner-fg' })) as Obj).metadata
        .deletionTimestamp,
    ).to.be.a('string');
    const rest = (dep.metadata.finalizers ?? []).filter((f) => f !== 'csbs.dev/slow');
    await custom.patchNamespacedCustomObject(
      { ...W, name: 'dep-fg', body: { metadata: { finalizers: rest } } },
      MERGE,
    );
    await eventually(() => gone(() => custom.getNamespacedCustomObject({ ...W, name: 'dep-fg' })));
    await eventually(() => gone(() => custom.getNamespacedCustomObject({ ...W, name: 'owner-fg' })));
  });

  it('orphans dependents when asked: their ownerReferences are removed and they stay', async () => {
    const owner = await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'owner-or' } },
    });
    await core.createNamespacedSecret({
      namespace: 'default',
      body: {
        metadata: {
          name: 'dep-or',
          ownerReferences: owned({ ...owner, apiVersion: 'v1', kind: 'ConfigMap' }),
        },
      },
    });
    await core.deleteNamespacedConfigMap({
      name: 'owner-or',
      namespace: 'default',
      propagationPolicy: 'Orphan',
    });
    await eventually(() =>
      gone(() => core.readNamespacedConfigMap({ name: 'owner-or', namespace: 'default' })),
    );
    const dep = await core.readNamespacedSecret({ name: 'dep-or', namespace: 'default' });
    expect(dep.metadata?.ownerReferences).to.equal(undefined);
  });

  it('deletes a namespace with everything in it (Terminating until empty)', async () => {
    await core.createNamespace({ body: { metadata: { name: 'doomed' } } });
    await core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'cm' } } });
    await custom.createNamespacedCustomObject({
      ...W,
      namespace: 'doomed',
      body: widget('held', {}, { metadata: { name: 'held', finalizers: ['csbs.dev/hold'] } }),
    });
    const ns = await core.deleteNamespace({ name: 'doomed' });
    expect((ns as k8s.V1Namespace).status?.phase).to.equal('Terminating');
    await eventually(() => gone(() => core.readNamespacedConfigMap({ name: 'cm', namespace: 'doomed' })));
    const blocked = await rejection(() =>
      core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'late' } } }),
    );
    expect(blocked).to.include({ code: 403, reason: 'Forbidden' });
    expect(blocked.message).to.contain(
      'unable to create new content in namespace doomed because it is being terminated',
    );
    expect((await core.readNamespace({ name: 'doomed' })).status?.phase).to.equal('Terminating');
    await custom.patchNamespacedCustomObject(
      { ...W, namespace: 'doomed', name: 'held', body: { metadata: { finalizers: null } } },
      MERGE,
    );
    await eventually(() => gone(() => core.readNamespace({ name: 'doomed' })));
  });

  it('returns a Success Status for an immediate built-in delete and the object for a custom resource', async () => {
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'plain' } } });
    const st = (await core.deleteNamespacedConfigMap({ name: 'plain', namespace: 'default' })) as unknown as {
      kind: string;
      status: string;
    };
    expect(st).to.include({ kind: 'Status', status: 'Success' });
    await custom.createNamespacedCustomObject({ ...W, body: widget('plain') });
    const obj = (await custom.deleteNamespacedCustomObject({ ...W, name: 'plain' })) as Obj;
    expect(obj.kind).to.equal('Widget');
  });
});
