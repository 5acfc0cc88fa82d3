/** PATCH: merge patch, JSON patch with `test`, strategic merge for built-ins, 415 for custom resources. */
import { expect } from 'chai';
import * as k8s from '@kubernetes/client-node';
import type { Sandbox } from '../../../src/sandbox/index.js';
import { JSON_PATCH, MERGE, STRATEGIC, rejection, sandbox, widget, type Obj } from './helpers.js';

describe('sandbox apiserver: patch', () => {
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

  it('merge-patches (RFC 7386: null deletes, objects merge, lists replace)', async () => {
    await custom.createNamespacedCustomObject({
      ...W,
      body: widget('m1', { size: 2, color: 'red', tags: ['a', 'b'] }),
    });
    const p = (await custom.patchNamespacedCustomObject(
      { ...W, name: 'm1', body: { spec: { color: null, tags: ['c'] }, metadata: { labels: { l: 'v' } } } },
      MERGE,
    )) as Obj;
    expect(p.spec).to.deep.equal({ size: 2, tags: ['c'] });
    expect(p.metadata.labels).to.deep.equal({ l: 'v' });
    expect(p.metadata.generation).to.equal(2);
  });

  it('answers 409 to a merge patch carrying a stale resourceVersion', async () => {
    const w = (await custom.createNamespacedCustomObject({ ...W, body: widget('m2') })) as Obj;
    await custom.patchNamespacedCustomObject({ ...W, name: 'm2', body: { spec: { size: 4 } } }, MERGE);
    const st = await rejection(() =>
      custom.patchNamespacedCustomObject(
        {
          ...W,
          name: 'm2',
          body: { metadata: { resourceVersion: w.metadata.resourceVersion }, spec: { size: 5 } },
        },
        MERGE,
      ),
    );
    expect(st).to.include({ code: 409, reason: 'Conflict' });
    expect(st.message).to.contain('the object has been modified');
  });

  it('applies JSON patches and honours a failing test operation', async () => {
    await custom.createNamespacedCustomObject({ ...W, body: widget('j1', { size: 2, tags: ['a'] }) });
    const p = (await custom.patchNamespacedCustomObject(
      {
        ...W,
        name: 'j1',
        body: [
          { op: 'test', path: '/spec/size', value: 2 },
          { op: 'replace', path: '/spec/size', value: 7 },
          { op: 'add', path: '/spec/tags/-', value: 'b' },
          { op: 'add', path: '/metadata/finalizers', value: ['x.example/f'] },
        ],
      },
      JSON_PATCH,
    )) as Obj;
    expect(p.spec).to.deep.equal({ size: 7, tags: ['a', 'b'] });
    expect(p.metadata.finalizers).to.deep.equal(['x.example/f']);
    const st = await rejection(() =>
      custom.patchNamespacedCustomObject(
        {
          ...W,
          name: 'j1',
          body: [
            { op: 'test', path: '/spec/size', value: 2 },
            { op: 'replace', path: '/spec/size', value: 1 },
          ],
        },
        JSON_PATCH,
      ),
    );
    expect(st.code).to.equal(422);
    expect(((await custom.getNamespacedCustomObject({ ...W, name: 'j1' })) as Obj).spec?.size).to.equal(7);
    await custom.patchNamespacedCustomObject(
      { ...W, name: 'j1', body: [{ op: 'remove', path: '/metadata/finalizers' }] },
      JSON_PATCH,
    );
  });

  it('answers 415 to a strategic merge patch on a custom resource', async () => {
    await custom.createNamespacedCustomObject({ ...W, body: widget('s1') });
    const st = await rejection(() =>
      custom.patchNamespacedCustomObject({ ...W, name: 's1', body: { spec: { size: 2 } } }, STRATEGIC),
    );
    expect(st).to.include({ code: 415, reason: 'UnsupportedMediaType' });
    expect(st.message).to.contain(
      'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json',
    );
  });

  it('strategic-merge-patches built-ins by merge key, with $patch: delete and $setElementOrder', async () => {
    await core.createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: { name: 'p1', finalizers: ['a.example/one'] },
        spec: {
          containers: [
            {
              name: 'main',
              image: 'busybox:1',
              env: [
                { name: 'A', value: '1' },
                { name: 'B', value: '2' },
              ],
            },
            { name: 'side', image: 'busybox:1' },
          ],
        },
      },
    });
    const patched = await core.patchNamespacedPod(
      {
        name: 'p1',
        namespace: 'default',
        body: {
          metadata: { finalizers: ['b.example/two'] },
          spec: {
            '$setElementOrder/containers': [{ name: 'main' }],
            containers: [
              {
                name: 'main',
                env: [
                  { name: 'B', value: '20' },
                  { name: 'C', value: '3' },
                ],
              },
              { name: 'side', $patch: 'delete' },
            ],
          },
        },
      },
      STRATEGIC,
    );
    expect(patched.spec?.containers.map((c) => c.name)).to.deep.equal(['main']);
    expect(patched.spec?.containers[0].image).to.equal('busybox:1');
    expect(patched.spec?.containers[0].env).to.deep.equal([
      { name: 'A', value: '1' },
      { name: 'B', value: '20' },
      { name: 'C', value: '3' },
    ]);
    expect(patched.metadata?.finalizers).to.deep.equal(
      ['a.example/one', 'b.example/two'],
      'finalizers merge as a set',
    );
    await core.patchNamespacedPod(
      { name: 'p1', namespace: 'default', body: { metadata: { finalizers: null } } },
      MERGE,
    );
  });

  it('patches /status without touching spec or generation', async () => {
    await custom.createNamespacedCustomObject({ ...W, body: widget('st1', { size: 1 }) });
    const p = (await custom.patchNamespacedCustomObjectStatus(
      {
        ...W,
        name: 'st1',
        body: [
          { op: 'add', path: '/status', value: { phase: 'Up' } },
          { op: 'replace', path: '/spec/size', value: 9 },
        ],
      },
      JSON_PATCH,
    )) as Obj;
    expect(p.status).to.deep.equal({ phase: 'Up' });
    expect(p.spec).to.deep.equal({ size: 1 });
    expect(p.metadata.generation).to.equal(1);
  });
});
