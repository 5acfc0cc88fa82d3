/** Custom resource admission (schema defaults, pruning, 422 causes) and CRD serving, through client-node. */
import { expect } from 'chai';
import * as k8s from '@kubernetes/client-node';
import type { Sandbox } from '../../../src/sandbox/index.js';
import { eventually, rejection, sandbox, widget, type Obj } from './helpers.js';

describe('sandbox apiserver: custom resource admission and CRDs', () => {
  let sb: Sandbox;
  let custom: k8s.CustomObjectsApi;
  let ext: k8s.ApiextensionsV1Api;
  const W = { group: 'test.csbs.dev', version: 'v1', namespace: 'default', plural: 'widgets' };

  before(async () => {
    sb = await sandbox();
    custom = sb.kubeConfig().makeApiClient(k8s.CustomObjectsApi);
    ext = sb.kubeConfig().makeApiClient(k8s.ApiextensionsV1Api);
  });
  after(() => sb.stop());

  it('applies schema defaults and prunes unknown fields on create and update', async () => {
    const w = (await custom.createNamespacedCustomObject({
      ...W,
      body: widget('d1', { color: 'red', bogus: 1 }, { extra: true }),
    })) as Obj;
    expect(w.spec).to.deep.equal({ color: 'red', size: 3 });
    expect(w.extra).to.equal(undefined);
    const u = (await custom.replaceNamespacedCustomObject({
      ...W,
      name: 'd1',
      body: { ...w, spec: { color: 'blue', junk: 'x' } },
    })) as Obj;
    expect(u.spec).to.deep.equal({ color: 'blue', size: 3 });
  });

  it('rejects an invalid object with 422 Invalid, the field causes and the apiserver message', async () => {
    const st = await rejection(() =>
      custom.createNamespacedCustomObject({ ...W, body: widget('bad', { size: 0, color: 'green' }) }),
    );
    expect(st).to.include({ code: 422, reason: 'Invalid' });
    expect(st.message).to.match(/^Widget\.test\.csbs\.dev "bad" is invalid: \[/);
    expect(st.message).to.contain(
      'spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1',
    );
    expect(st.message).to.contain('spec.color: Unsupported value: "green": supported values: "red", "blue"');
    const causes = (st.details as { causes: Array<{ field: string; reason: string }> }).causes;
    expect(causes.map((c) => [c.field, c.reason])).to.deep.include.members([
      ['spec.size', 'FieldValueInvalid'],
      ['spec.color', 'FieldValueNotSupported'],
    ]);
  });

  it('validates status writes against the schema too', async () => {
    const w = (await custom.createNamespacedCustomObject({ ...W, body: widget('sv') })) as Obj;
    const st = await rejection(() =>
      custom.replaceNamespacedCustomObjectStatus({ ...W, name: 'sv', body: { ...w, status: { phase: 7 } } }),
    );
    expect(st.code).to.equal(422);
    expect(st.message).to.contain(
      'status.phase: Invalid value: "integer": status.phase in body must be of type string',
    );
  });

  it('rejects a CRD whose name does not match its names and group', async () => {
    const st = await rejection(() =>
      ext.createCustomResourceDefinition({
        body: {
          metadata: { name: 'wrong.test.csbs.dev' },
          spec: {
            group: 'test.csbs.dev',
            names: { kind: 'Thing', plural: 'things' },
            scope: 'Namespaced',
            versions: [
              { name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object' } } },
            ],
          },
        },
      }),
    );
    expect(st.code).to.equal(422);
    expect(st.message).to.contain(
      'metadata.name: Invalid value: "wrong.test.csbs.dev": must be spec.names.plural+"."+spec.group',
    );
  });

  it('serves a new CRD at once (Established), and deleting it removes its objects and the endpoint', async () => {
    const crd = await ext.createCustomResourceDefinition({
      body: {
        metadata: { name: 'things.late.example' },
        spec: {
          group: 'late.example',
          names: { kind: 'Thing', plural: 'things', shortNames: ['th'] },
          scope: 'Cluster',
          versions: [
            {
              name: 'v1beta1',
              served: true,
              storage: false,
              schema: { openAPIV3Schema: { type: 'object', x_kubernetes_preserve_unknown_fields: true } },
            },
            {
              name: 'v1',
              served: true,
              storage: true,
              schema: { openAPIV3Schema: { type: 'object', x_kubernetes_preserve_unknown_fields: true } },
            },
          ],
        },
      },
    });
    expect(crd.status?.conditions?.find((c) => c.type === 'Established')?.status).to.equal('True');
    const T = { group: 'late.example', version: 'v1', plural: 'things' };
    await custom.createClusterCustomObject({
      ...T,
      body: { apiVersion: 'late.example/v1', kind: 'Thing', metadata: { name: 't1' }, any: { thing: 1 } },
    });
    const old = (await custom.getClusterCustomObject({ ...T, version: 'v1beta1', name: 't1' })) as Obj;
    expect(old.apiVersion).to.equal('late.example/v1beta1', 'served in every version, converted with None');
    const groups = (await (await fetch(`${sb.url}/apis/late.example`)).json()) as {
      preferredVersion: { version: string };
    };
    expect(groups.preferredVersion.version).to.equal('v1');

    await ext.deleteCustomResourceDefinition({ name: 'things.late.example' });
    await eventually(async () => (await fetch(`${sb.url}/apis/late.example/v1/things`)).status === 404);
    const crds = await ext.listCustomResourceDefinition();
    expect(crds.items.map((c) => c.metadata?.name)).not.to.include('things.late.example');
  });
});
