/** Lists: kind, global resourceVersion, label and field selectors, pagination. */
import { expect } from 'chai';
import * as k8s from '@kubernetes/client-node';
import type { Sandbox } from '../../../src/sandbox/index.js';
import { rejection, sandbox } from './helpers.js';

describe('sandbox apiserver: list', () => {
  let sb: Sandbox;
  let core: k8s.CoreV1Api;

  before(async () => {
    sb = await sandbox();
    core = sb.kubeConfig().makeApiClient(k8s.CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: 'other' } } });
    const cms: Array<[string, string, Record<string, string>]> = [
      ['default', 'a', { app: 'web', tier: 'front' }],
      ['default', 'b', { app: 'web', tier: 'back' }],
      ['default', 'c', { app: 'db' }],
      ['default', 'd', {}],
      ['other', 'a', { app: 'web', tier: 'front' }],
    ];
    for (const [namespace, name, labels] of cms)
      await core.createNamespacedConfigMap({ namespace, body: { metadata: { name, labels } } });
  });
  after(() => sb.stop());

  const names = (l: k8s.V1ConfigMapList): string[] =>
    l.items.map((i) => `${i.metadata?.namespace}/${i.metadata?.name}`);
  const select = async (labelSelector: string): Promise<string[]> =>
    names(await core.listNamespacedConfigMap({ namespace: 'default', labelSelector }));

  it('returns <Kind>List with the current global resourceVersion, sorted', async () => {
    const list = await core.listConfigMapForAllNamespaces();
    expect(list.kind).to.equal('ConfigMapList');
    expect(list.apiVersion).to.equal('v1');
    expect(list.metadata?.resourceVersion).to.equal(String(sb.resourceVersion()));
    expect(names(list)).to.deep.equal(['default/a', 'default/b', 'default/c', 'default/d', 'other/a']);
  });

  it('filters by every label selector operator', async () => {
    expect(await select('app=web')).to.deep.equal(['default/a', 'default/b']);
    expect(await select('app==web,tier=back')).to.deep.equal(['default/b']);
    expect(await select('app!=web')).to.deep.equal(['default/c', 'default/d']);
    expect(await select('app in (db, web),tier notin (front)')).to.deep.equal(['default/b', 'default/c']);
    expect(await select('tier')).to.deep.equal(['default/a', 'default/b']);
    expect(await select('!tier')).to.deep.equal(['default/c', 'default/d']);
  });

  it('filters by metadata.name and metadata.namespace field selectors, rejecting others', async () => {
    expect(
      names(await core.listConfigMapForAllNamespaces({ fieldSelector: 'metadata.name=a' })),
    ).to.deep.equal(['default/a', 'other/a']);
    expect(
      names(await core.listConfigMapForAllNamespaces({ fieldSelector: 'metadata.namespace!=default' })),
    ).to.deep.equal(['other/a']);
    const st = await rejection(() => core.listConfigMapForAllNamespaces({ fieldSelector: 'spec.nothing=x' }));
    expect(st).to.include({ code: 400, message: 'field label not supported: spec.nothing' });
    const bad = await rejection(() =>
      core.listNamespacedConfigMap({ namespace: 'default', labelSelector: 'a in b' }),
    );
    expect(bad.code).to.equal(400);
  });

  it('pages with limit and continue', async () => {
    const first = await core.listConfigMapForAllNamespaces({ limit: 2 });
    expect(names(first)).to.deep.equal(['default/a', 'default/b']);
    const second = await core.listConfigMapForAllNamespaces({
      limit: 2,
      _continue: first.metadata?._continue,
    });
    expect(names(second)).to.deep.equal(['default/c', 'default/d']);
    const last = await core.listConfigMapForAllNamespaces({
      limit: 2,
      _continue: second.metadata?._continue,
    });
    expect(names(last)).to.deep.equal(['other/a']);
    expect(last.metadata?._continue).to.equal(undefined);
  });

  it('serves discovery for kubectl and client libraries', async () => {
    const api = (await (await fetch(`${sb.url}/api`)).json()) as { versions: string[] };
    expect(api.versions).to.deep.equal(['v1']);
    const groups = (await (await fetch(`${sb.url}/apis`)).json()) as { groups: Array<{ name: string }> };
    expect(groups.groups.map((g) => g.name)).to.include.members([
      'batch',
      'apiextensions.k8s.io',
      'snapshot.storage.k8s.io',
      'kubevirt.io',
      'test.csbs.dev',
    ]);
    const v1 = (await (await fetch(`${sb.url}/api/v1`)).json()) as {
      resources: Array<{ name: string; shortNames?: string[] }>;
    };
    expect(v1.resources.find((r) => r.name === 'pods')?.shortNames).to.deep.equal(['po']);
    expect(v1.resources.map((r) => r.name)).to.include.members([
      'pods/log',
      'pods/status',
      'namespaces',
      'persistentvolumeclaims',
    ]);
    const version = (await (await fetch(`${sb.url}/version`)).json()) as { major: string };
    expect(version.major).to.equal('1');
  });
});
