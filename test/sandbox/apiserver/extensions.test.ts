/** Persistence, fault injection, the pod log seam and extension routes of the sandbox API. */
import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import * as k8s from '@kubernetes/client-node';
import { ApiError, type PodLogOptions } from '../../../src/sandbox/apiserver/index.js';
import type { Sandbox } from '../../../src/sandbox/index.js';
import { rejection, sandbox, widget, type Obj } from './helpers.js';

describe('sandbox apiserver: persistence, faults, logs, extensions', () => {
  const W = { group: 'test.csbs.dev', version: 'v1', namespace: 'default', plural: 'widgets' };

  it('persists objects and the resourceVersion to the state dir across restarts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'csbs-persist-'));
    try {
      let sb = await sandbox({ stateDir: dir });
      let custom = sb.kubeConfig().makeApiClient(k8s.CustomObjectsApi);
      const w = (await custom.createNamespacedCustomObject({
        ...W,
        body: widget('kept', { size: 2 }),
      })) as Obj;
      const rv = sb.resourceVersion();
      await sb.stop();
      sb = await sandbox({ stateDir: dir });
      try {
        custom = sb.kubeConfig().makeApiClient(k8s.CustomObjectsApi);
        const again = (await custom.getNamespacedCustomObject({ ...W, name: 'kept' })) as Obj;
        expect(again).to.deep.equal(w);
        expect(sb.resourceVersion()).to.be.at.least(rv);
        const next = (await custom.createNamespacedCustomObject({ ...W, body: widget('new') })) as Obj;
        expect(Number(next.metadata.resourceVersion)).to.be.greaterThan(rv);
      } finally {
        await sb.stop();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  describe('on a running sandbox', () => {
    let sb: Sandbox;
    let core: k8s.CoreV1Api;
    before(async () => {
      sb = await sandbox();
      core = sb.kubeConfig().makeApiClient(k8s.CoreV1Api);
    });
    after(() => sb.stop());

    it('fails the next N matching requests with the injected code', async () => {
      sb.failNext({ method: 'POST', path: /\/configmaps$/, count: 2, code: 500 });
      const first = await rejection(() =>
        core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'f' } } }),
      );
      expect(first).to.include({ code: 500, reason: 'InternalError' });
      await rejection(() =>
        core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'f' } } }),
      );
      await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'f' } } });
      sb.failNext({ path: /configmaps\/f/, code: 409 });
      expect(
        (await rejection(() => core.readNamespacedConfigMap({ name: 'f', namespace: 'default' }))).code,
      ).to.equal(409);
      expect(
        (await core.readNamespacedConfigMap({ name: 'f', namespace: 'default' })).metadata?.name,
      ).to.equal('f');
    });

    it('serves pod logs from the registered provider, with tailLines and container checks', async () => {
      await core.createNamespacedPod({
        namespace: 'default',
        body: { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'x:1' }] } },
      });
      const waiting = await rejection(() => core.readNamespacedPodLog({ name: 'p', namespace: 'default' }));
      expect(waiting).to.include({
        code: 400,
        message: 'container "c" in pod "p" is waiting to start: ContainerCreating',
      });
      const asked: PodLogOptions[] = [];
      sb.apiServer.setPodLogProvider((ns, pod, options) => {
        asked.push(options);
        return options.follow ? Readable.from(['streamed\n']) : `${ns}/${pod} line1\nline2\nline3\n`;
      });
      expect(await core.readNamespacedPodLog({ name: 'p', namespace: 'default' })).to.equal(
        'default/p line1\nline2\nline3\n',
      );
      expect(await core.readNamespacedPodLog({ name: 'p', namespace: 'default', tailLines: 2 })).to.equal(
        'line2\nline3\n',
      );
      expect(await core.readNamespacedPodLog({ name: 'p', namespace: 'default', follow: true })).to.equal(
        'streamed\n',
      );
      expect(asked[0]).to.include({ container: 'c', follow: false });
      const wrong = await rejection(() =>
        core.readNamespacedPodLog({ name: 'p', namespace: 'default', container: 'nope' }),
      );
      expect(wrong.code).to.equal(400);
      sb.apiServer.setPodLogProvider(undefined);
    });

    it('serves extension routes and lists them in discovery', async () => {
      const frozen: string[] = [];
      sb.apiServer.addRoute(
        {
          method: 'PUT',
          path: /^\/apis\/subresources\.kubevirt\.io\/v1\/namespaces\/([^/]+)\/virtualmachineinstances\/([^/]+)\/freeze$/,
          handler: ({ match }) => {
            if (match[2] === 'missing')
              throw new ApiError(
                404,
                'NotFound',
                `virtualmachineinstance.kubevirt.io "${match[2]}" not found`,
              );
            frozen.push(`${match[1]}/${match[2]}`);
            return {};
          },
        },
        {
          groupVersion: 'subresources.kubevirt.io/v1',
          resource: { name: 'virtualmachineinstances/freeze', namespaced: true, kind: '', verbs: ['update'] },
        },
      );
      const url = `${sb.url}/apis/subresources.kubevirt.io/v1/namespaces/default/virtualmachineinstances`;
      expect((await fetch(`${url}/vm1/freeze`, { method: 'PUT' })).status).to.equal(200);
      expect(frozen).to.deep.equal(['default/vm1']);
      const missing = await fetch(`${url}/missing/freeze`, { method: 'PUT' });
      expect(missing.status).to.equal(404);
      expect(((await missing.json()) as { kind: string }).kind).to.equal('Status');
      const disc = (await (await fetch(`${sb.url}/apis/subresources.kubevirt.io/v1`)).json()) as {
        resources: Array<{ name: string }>;
      };
      expect(disc.resources.map((r) => r.name)).to.deep.equal(['virtualmachineinstances/freeze']);
    });

    it('publishes CRD schemas in /openapi/v2 as kubectl expects', async () => {
      const doc = (await (await fetch(`${sb.url}/openapi/v2`)).json()) as {
        definitions: Record<string, Record<string, unknown>>;
      };
      const def = doc.definitions['dev.csbs.test.v1.Widget'];
      expect(def['x-kubernetes-group-version-kind']).to.deep.equal([
        { group: 'test.csbs.dev', kind: 'Widget', version: 'v1' },
      ]);
      expect((def.properties as Record<string, unknown>).metadata).to.deep.include({
        $ref: '#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta',
      });
      const vm = doc.definitions['io.kubevirt.v1.VirtualMachine'];
      const status = (vm.properties as Record<string, Record<string, unknown>>).status;
      expect(status.properties).to.equal(
        undefined,
        'preserve-unknown-fields objects are left open for kubectl',
      );
      const pb = await fetch(`${sb.url}/openapi/v2`, {
        headers: { Accept: 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf' },
      });
      expect(pb.headers.get('content-type')).to.equal('application/octet-stream');
      expect(Buffer.from(await pb.arrayBuffer()).includes(Buffer.from('dev.csbs.test.v1.Widget'))).to.equal(
        true,
      );
    });
  });
});
