import { expect } from 'chai';
import {
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
} from '@kubernetes/client-node';
import type { Sandbox } from '../../../src/sandbox/index.js';
import { GUEST_AGENT_ANNOTATION } from '../../../src/sandbox/cluster/index.js';
import { pvc, request, waitFor, useSandboxCluster } from './helpers.js';

const KV = { group: 'kubevirt.io', version: 'v1' };

interface Vm {
  metadata: { name: string; annotations?: Record<string, string> };
  status?: { printableStatus?: string; ready?: boolean; created?: boolean };
}
interface Vmi {
  metadata: { name: string; ownerReferences?: Array<{ kind: string; name: string }> };
  status?: { phase?: string; fsFreezeStatus?: string; conditions?: Array<{ type: string; status: string }> };
}

describe('sandbox cluster: KubeVirt', function () {
  this.timeout(30_000);
  const cluster = useSandboxCluster('kv');
  let sb: Sandbox;
  let kc: KubeConfig;
  let core: CoreV1Api;
  let ns: string;
  let custom: CustomObjectsApi;

  before(() => {
    ({ sb, kc, core } = cluster);
    custom = kc.makeApiClient(CustomObjectsApi);
  });
  beforeEach(async () => {
    ns = cluster.ns;
    await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: pvc('root', '1Mi', 'Block') });
  });

  async function createVm(
    name: string,
    spec: Record<string, unknown>,
    annotations?: Record<string, string>,
    claimName = 'root',
  ): Promise<void> {
    await custom.createNamespacedCustomObject({
      ...KV,
      plural: 'virtualmachines',
      namespace: ns,
      body: {
        apiVersion: 'kubevirt.io/v1',
        kind: 'VirtualMachine',
        metadata: { name, ...(annotations ? { annotations } : {}) },
        spec: {
          ...spec,
          template: {
            metadata: { labels: { app: name } },
            spec: {
              domain: {
                devices: { disks: [{ name: 'root', disk: { bus: 'virtio' } }] },
                resources: { requests: { memory: '64Mi' } },
              },
              volumes: [{ name: 'root', persistentVolumeClaim: { claimName } }],
            },
          },
        },
      },
    });
  }

  const getVm = async (name: string) =>
    (await custom.getNamespacedCustomObject({ ...KV, plural: 'virtualmachines', namespace: ns, name })) as Vm;
  const getVmi = async (name: string) => {
    try {
      return (await custom.getNamespacedCustomObject({
        ...KV,
        plural: 'virtualmachineinstances',
        namespace: ns,
        name,
      })) as Vmi;
    } catch {
      return undefined;
    }
  };
  const vmStatus = (name: string, printable: string) =>
    waitFor(`VM ${name} ${printable}`, async () =>
      (await getVm(name)).status?.printableStatus === printable ? getVm(name) : undefined,
    );
  const freeze = (name: string, body: unknown = { unfreezeTimeout: '5m' }) =>
    request(
      kc,
      'PUT',
      `/apis/subresources.kubevirt.io/v1/namespaces/${ns}/virtualmachineinstances/${name}/freeze`,
      body,
    );
  const unfreeze = (name: string) =>
    request(
      kc,
      'PUT',
      `/apis/subresources.kubevirt.io/v1/namespaces/${ns}/virtualmachineinstances/${name}/unfreeze`,
      {},
    );

  it('starts and stops a VM with runStrategy and legacy running', async () => {
    await createVm('web', { runStrategy: 'Always' });
    const running = await vmStatus('web', 'Running');
    expect(running.status).to.include({ ready: true, created: true });
    const vmi = await getVmi('web');
    expect(vmi?.status?.phase).to.equal('Running');
    expect(vmi?.metadata.ownerReferences?.[0]).to.include({ kind: 'VirtualMachine', name: 'web' });

    await custom.patchNamespacedCustomObject(
      {
        ...KV,
        plural: 'virtualmachines',
        namespace: ns,
        name: 'web',
        body: { spec: { runStrategy: 'Halted' } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const stopped = await vmStatus('web', 'Stopped');
    expect(stopped.status).to.include({ ready: false, created: false });
    expect(await getVmi('web')).to.equal(undefined);

    await createVm('legacy', { running: true });
    await vmStatus('legacy', 'Running');
    const stop = await request(
      kc,
      'PUT',
      `/apis/subresources.kubevirt.io/v1/namespaces/${ns}/virtualmachines/legacy/stop`,
      {},
    );
    expect(stop.status).to.equal(200);
    await vmStatus('legacy', 'Stopped');
    expect(((await getVm('legacy')) as unknown as { spec: { running: boolean } }).spec.running).to.equal(
      false,
    );

    // A VM whose disk PVC does not exist does not start, and says why.
    await createVm('nodisk', { runStrategy: 'Always' }, undefined, 'missing');
    await vmStatus('nodisk', 'ErrorPvcNotFound');
    expect(await getVmi('nodisk')).to.equal(undefined);
  });

  it('records freeze and thaw, auto-thaws after unfreezeTimeout, and refuses like KubeVirt when it cannot freeze', async () => {
    await createVm('db', { runStrategy: 'Always' });
    await vmStatus('db', 'Running');
    const t0 = Date.now();
    const r = await freeze('db');
    expect(r.status).to.equal(200);
    expect((await getVmi('db'))?.status?.fsFreezeStatus).to.equal('frozen');
    expect((await unfreeze('db')).status).to.equal(200);
    expect((await getVmi('db'))?.status?.fsFreezeStatus).to.equal(undefined);
    const log = sb.cluster!.freezeLog(ns, 'db');
    expect(log.map((e) => [e.action, e.ok])).to.deep.equal([
      ['freeze', true],
      ['unfreeze', true],
    ]);
    expect(Date.parse(log[0]!.time)).to.be.at.least(t0 - 5);
    expect(Date.parse(log[1]!.time)).to.be.at.least(Date.parse(log[0]!.time));
    expect(log[0]!.unfreezeTimeout).to.equal('5m');

    expect((await freeze('db', { unfreezeTimeout: '150ms' })).status).to.equal(200);
    await waitFor('auto-thaw', async () =>
      sb.cluster!.freezeLog(ns, 'db').some((e) => e.action === 'auto-unfreeze'),
    );
    await waitFor(
      'fsFreezeStatus cleared',
      async () => (await getVmi('db'))?.status?.fsFreezeStatus === undefined,
    );

    const bad = await freeze('db', { unfreezeTimeout: 'soon' });
    expect(bad.status).to.equal(400);

    await createVm('noagent', { runStrategy: 'Always' }, { [GUEST_AGENT_ANNOTATION]: 'false' });
    await vmStatus('noagent', 'Running');
    const refused = await freeze('noagent');
    expect(refused.status).to.equal(500);
    expect(refused.json).to.include({ kind: 'Status', reason: 'InternalError' });
    expect((refused.json as { message: string }).message).to.contain('QEMU guest agent is not connected');
    expect(sb.cluster!.freezeLog(ns, 'noagent')).to.have.length(1);
    expect(sb.cluster!.freezeLog(ns, 'noagent')[0]).to.include({ action: 'freeze', ok: false });

    await createVm('off', { runStrategy: 'Halted' });
    await vmStatus('off', 'Stopped');
    const notFound = await freeze('off');
    expect(notFound.status).to.equal(404);
    expect((notFound.json as { message: string }).message).to.equal(
      'virtualmachineinstance.kubevirt.io "off" not found',
    );

    expect(
      (
        await request(
          kc,
          'PUT',
          `/apis/subresources.kubevirt.io/v1/namespaces/${ns}/virtualmachineinstances/db/pause`,
          {},
        )
      ).status,
    ).to.equal(200);
    await vmStatus('db', 'Paused');
    const paused = await freeze('db');
    expect(paused.status).to.equal(500);
    expect((paused.json as { message: string }).message).to.contain('Guest agent not available');

    const discovery = await request(kc, 'GET', '/apis/subresources.kubevirt.io/v1');
    expect(JSON.stringify(discovery.json)).to.contain('virtualmachineinstances/freeze');
  });
});
