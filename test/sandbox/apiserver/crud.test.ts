/** Create, read, update and status rules of the emulator, driven through client-node. */
import { expect } from 'chai';
import * as k8s from '@kubernetes/client-node';
import type { Sandbox } from '../../../src/sandbox/index.js';
import { MERGE, rejection, sandbox, widget, type Obj } from './helpers.js';

describe('sandbox apiserver: create, get, update', () => {
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

  it('creates with uid, creationTimestamp, generation 1 and a fresh global resourceVersion', async () => {
    const before = sb.resourceVersion();
    const w = (await custom.createNamespacedCustomObject({ ...W, body: widget('c1', { size: 2 }) })) as Obj;
    expect(w.metadata.uid).to.match(/^[0-9a-f-]{36}$/);
    expect(w.metadata.generation).to.equal(1);
    expect(Number(w.metadata.resourceVersion)).to.equal(before + 1);
    expect(String(w.metadata.creationTimestamp)).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const got = (await custom.getNamespacedCustomObject({ ...W, name: 'c1' })) as Obj;
    expect(got).to.deep.equal(w);
  });

  it('generates names from generateName', async () => {
    const cm = await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { generateName: 'gen-' } },
    });
    expect(cm.metadata?.name).to.match(/^gen-[a-z0-9]{5}$/);
  });

  it('answers 404 and 409 AlreadyExists with the apiserver messages', async () => {
    const nf = await rejection(() => custom.getNamespacedCustomObject({ ...W, name: 'nope' }));
    expect(nf).to.include({ kind: 'Status', status: 'Failure', reason: 'NotFound', code: 404 });
    expect(nf.message).to.equal('widgets.test.csbs.dev "nope" not found');
    const nfCore = await rejection(() => core.readNamespacedSecret({ name: 'nope', namespace: 'default' }));
    expect(nfCore.message).to.equal('secrets "nope" not found');
    await custom.createNamespacedCustomObject({ ...W, body: widget('dup') });
    const dup = await rejection(() => custom.createNamespacedCustomObject({ ...W, body: widget('dup') }));
    expect(dup).to.include({
      reason: 'AlreadyExists',
      code: 409,
      message: 'widgets.test.csbs.dev "dup" already exists',
    });
  });

  it('rejects bad names and a missing namespace', async () => {
    const bad = await rejection(() =>
      custom.createNamespacedCustomObject({ ...W, body: widget('Bad_Name') }),
    );
    expect(bad.code).to.equal(422);
    expect(bad.message).to.match(
      /^Widget\.test\.csbs\.dev "Bad_Name" is invalid: metadata\.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain/,
    );
    const ns = await rejection(() =>
      custom.createNamespacedCustomObject({ ...W, namespace: 'ghost', body: widget('x') }),
    );
    expect(ns).to.include({ code: 404, message: 'namespaces "ghost" not found' });
  });

  it('strips status on create when the kind has a status subresource', async () => {
    const w = (await custom.createNamespacedCustomObject({
      ...W,
      body: widget('st', {}, { status: { phase: 'Hacked' } }),
    })) as Obj;
    expect(w.status).to.equal(undefined);
  });

  it('requires resourceVersion on custom resource updates and answers 409 on a stale one', async () => {
    const w = (await custom.createNamespacedCustomObject({ ...W, body: widget('u1', { size: 1 }) })) as Obj;
    const noRv = { ...w, metadata: { ...w.metadata, resourceVersion: undefined } };
    const missing = await rejection(() =>
      custom.replaceNamespacedCustomObject({ ...W, name: 'u1', body: noRv }),
    );
    expect(missing.code).to.equal(422);
    expect(missing.message).to.contain(
      'metadata.resourceVersion: Invalid value: 0x0: must be specified for an update',
    );
    const updated = (await custom.replaceNamespacedCustomObject({
      ...W,
      name: 'u1',
      body: { ...w, spec: { size: 5 } },
    })) as Obj;
    expect(updated.metadata.generation).to.equal(2);
    const stale = await rejection(() =>
      custom.replaceNamespacedCustomObject({ ...W, name: 'u1', body: { ...w, spec: { size: 6 } } }),
    );
    expect(stale).to.include({ code: 409, reason: 'Conflict' });
    expect(stale.message).to.equal(
      'Operation cannot be fulfilled on widgets.test.csbs.dev "u1": the object has been modified; please apply your changes to the latest version and try again',
    );
  });

  it('keeps stored status on the main endpoint and bumps generation only on spec changes', async () => {
    const w = (await custom.createNamespacedCustomObject({ ...W, body: widget('g1', { size: 1 }) })) as Obj;
    const s = (await custom.replaceNamespacedCustomObjectStatus({
      ...W,
      name: 'g1',
      body: { ...w, status: { phase: 'Ready' }, spec: { size: 99 } },
    })) as Obj;
    expect(s.status).to.deep.equal({ phase: 'Ready' });
    expect(s.spec).to.deep.equal({ size: 1 }, 'the status endpoint ignores spec');
    expect(s.metadata.generation).to.equal(1);
    const m = (await custom.replaceNamespacedCustomObject({
      ...W,
      name: 'g1',
      body: { ...s, status: { phase: 'Lost' }, metadata: { ...s.metadata, labels: { a: 'b' } } },
    })) as Obj;
    expect(m.status).to.deep.equal({ phase: 'Ready' }, 'the main endpoint keeps stored status');
    expect(m.metadata.generation).to.equal(1, 'a metadata change does not bump generation');
    expect(m.metadata.labels).to.deep.equal({ a: 'b' });
    const p = (await custom.patchNamespacedCustomObjectStatus(
      { ...W, name: 'g1', body: { status: { phase: 'Done' } } },
      MERGE,
    )) as Obj;
    expect(p.status).to.deep.equal({ phase: 'Done' });
    expect(p.metadata.generation).to.equal(1);
  });

  it('treats an update that changes nothing as a no-op', async () => {
    const w = (await custom.createNamespacedCustomObject({ ...W, body: widget('noop', { size: 1 }) })) as Obj;
    const rv = sb.resourceVersion();
    const same = (await custom.replaceNamespacedCustomObject({ ...W, name: 'noop', body: w })) as Obj;
    expect(same.metadata.resourceVersion).to.equal(w.metadata.resourceVersion);
    expect(sb.resourceVersion()).to.equal(rv);
  });

  it('keeps uid and creationTimestamp, rejects a changed uid', async () => {
    const w = (await custom.createNamespacedCustomObject({ ...W, body: widget('imm') })) as Obj;
    const bad = await rejection(() =>
      custom.replaceNamespacedCustomObject({
        ...W,
        name: 'imm',
        body: { ...w, metadata: { ...w.metadata, uid: '00000000-0000-0000-0000-000000000000' } },
      }),
    );
    expect(bad.code).to.equal(422);
    expect(bad.message).to.contain(
      'metadata.uid: Invalid value: "00000000-0000-0000-0000-000000000000": field is immutable',
    );
  });

  it('merges secret stringData into data', async () => {
    const s = await core.createNamespacedSecret({
      namespace: 'default',
      body: { metadata: { name: 'sec' }, stringData: { key: 'hello' } },
    });
    expect(s.data).to.deep.equal({ key: Buffer.from('hello').toString('base64') });
    expect(s.stringData).to.equal(undefined);
    expect(s.type).to.equal('Opaque');
  });

  it('answers with application/json and Status bodies for unknown paths', async () => {
    const res = await fetch(`${sb.url}/apis/nothing.example/v1/things`);
    expect(res.status).to.equal(404);
    expect(res.headers.get('content-type')).to.equal('application/json');
    expect(((await res.json()) as { kind: string }).kind).to.equal('Status');
    const ok = await fetch(`${sb.url}/api/v1/namespaces/default/configmaps`);
    expect(ok.headers.get('content-type')).to.equal('application/json');
  });
});
