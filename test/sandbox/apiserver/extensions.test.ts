/** Persistence, fault injection, the pod log seam and extension routes of the sandbox API. */
import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import * as k8s from '@kubernetes/client-node';
import { ApiError } from '../../../src/sandbox/apiserver/index.js';
import type { PodLogRequest } from '../../../src/sandbox/extensions.js';
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
      const asked: PodLogRequest[] = [];
      sb.apiServer.setPodLogSource({
        read: async (req) => {
          asked.push(req);
          const lines = [`${req.namespace}/${req.pod} line1`, 'line2', 'line3'];
          return Buffer.from(`${lines.slice(req.tailLines ? -req.tailLines : 0).join('\n')}\n`);
        },
        follow: (req, signal) =>
          (async function* () {
            asked.push(req);
            yield Buffer.from('first\n');
            if (!signal.aborted) yield Buffer.from('second\n');
          })(),
      });
      expect(await core.readNamespacedPodLog({ name: 'p', namespace: 'default' })).to.equal(
        'default/p line1\nline2\nline3\n',
      );
      expect(await core.readNamespacedPodLog({ name: 'p', namespace: 'default', tailLines: 2 })).to.equal(
        'line2\nline3\n',
      );
      expect(await core.readNamespacedPodLog({ name: 'p', namespace: 'default', follow: true })).to.equal(
        'first\nsecond\n',
      );
      const pod = await core.readNamespacedPod({ name: 'p', namespace: 'default' });
      expect(asked[0]).to.deep.equal({
        namespace: 'default',
        pod: 'p',
        uid: pod.metadata?.uid,
        container: 'c',
      });
      expect(asked[1].tailLines).to.equal(2);
      const wrong = await rejection(() =>
        core.readNamespacedPodLog({ name: 'p', namespace: 'default', container: 'nope' }),
      );
      expect(wrong).to.include({ code: 400, message: 'container nope is not valid for pod p' });
      sb.apiServer.setPodLogSource(undefined);
    });

    it('serves pod logs from a function-style provider too', async () => {
      await core.createNamespacedPod({
        namespace: 'default',
        body: {
          metadata: { name: 'q' },
          spec: {
            containers: [
              { name: 'a', image: 'x:1' },
              { name: 'b', image: 'x:1' },
            ],
          },
        },
      });
      const choose = await rejection(() => core.readNamespacedPodLog({ name: 'q', namespace: 'default' }));
      expect(choose).to.include({
        code: 400,
        message: 'a container name must be specified for pod q, choose one of: [a b]',
      });
      sb.apiServer.setPodLogProvider((_ns, _pod, o) =>
        o.follow ? Readable.from(['streamed\n']) : `${o.container}1\n${o.container}2\n`,
      );
      expect(
        await core.readNamespacedPodLog({ name: 'q', namespace: 'default', container: 'b', tailLines: 1 }),
      ).to.equal('b2\n');
      expect(
        await core.readNamespacedPodLog({ name: 'q', namespace: 'default', container: 'a', follow: true }),
      ).to.equal('streamed\n');
      sb.apiServer.setPodLogProvider(undefined);
    });

    it('proxies aggregated APIs and lists them in discovery', async () => {
      const seen: string[] = [];
      sb.apiServer.addAggregatedApi({
        group: 'subresources.kubevirt.io',
        version: 'v1',
        resources: [
          { name: 'virtualmachineinstances/freeze', namespaced: true, kind: '', verbs: ['update'] },
        ],
        handle: (req, res, path) => {
          seen.push(`${req.method} ${path}`);
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end('{}');
        },
      });
      const url = `${sb.url}/apis/subresources.kubevirt.io/v1/namespaces/default/virtualmachineinstances`;
      expect((await fetch(`${url}/vm1/freeze`, { method: 'PUT' })).status).to.equal(200);
      expect(seen).to.deep.equal(['PUT /namespaces/default/virtualmachineinstances/vm1/freeze']);
      const disc = (await (await fetch(`${sb.url}/apis/subresources.kubevirt.io/v1`)).json()) as {
        resources: Array<{ name: string }>;
      };
      expect(disc.resources.map((r) => r.name)).to.deep.equal(['virtualmachineinstances/freeze']);
      const groups = (await (await fetch(`${sb.url}/apis`)).json()) as { groups: Array<{ name: string }> };
      expect(groups.groups.map((g) => g.name)).to.include('subresources.kubevirt.io');
    });

    it('serves extension routes, answering thrown ApiErrors as Status', async () => {
      sb.apiServer.addRoute({
        method: 'GET',
        path: /^\/apis\/example\.dev\/v1\/things\/([^/]+)$/,
        handler: ({ match }) => {
          if (match[1] === 'missing')
            throw new ApiError(404, 'NotFound', `things.example.dev "${match[1]}" not found`);
          return { name: match[1] };
        },
      });
      expect(await (await fetch(`${sb.url}/apis/example.dev/v1/things/a`)).json()).to.deep.equal({
        name: 'a',
      });
      const missing = await fetch(`${sb.url}/apis/example.dev/v1/things/missing`);
      expect(missing.status).to.equal(404);
      expect(((await missing.json()) as { kind: string }).kind).to.equal('Status');
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
