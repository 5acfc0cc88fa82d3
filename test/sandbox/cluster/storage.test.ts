import { expect } from 'chai';
import { open, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import type { Sandbox } from '../../../src/sandbox/index.js';
import { gone, pvc, waitFor, useSandboxCluster } from './helpers.js';

const SNAP = { group: 'snapshot.storage.k8s.io', version: 'v1' };

interface SnapshotObj {
  metadata: { name: string; uid?: string };
  status?: {
    readyToUse?: boolean;
    restoreSize?: string;
    boundVolumeSnapshotContentName?: string;
    error?: { message?: string };
  };
}

async function writeAt(path: string, offset: number, text: string): Promise<void> {
  const fh = await open(path, 'r+');
  await fh.write(Buffer.from(text), 0, text.length, offset);
  await fh.close();
}

describe('sandbox cluster: provisioner and snapshotter', function () {
  this.timeout(30_000);
  const cluster = useSandboxCluster('storage');
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
  });

  async function bound(name: string) {
    return waitFor(`PVC ${name} Bound`, async () => {
      const p = await core.readNamespacedPersistentVolumeClaim({ namespace: ns, name });
      return p.status?.phase === 'Bound' ? p : undefined;
    });
  }

  async function snapshot(name: string, source: string): Promise<SnapshotObj> {
    await custom.createNamespacedCustomObject({
      ...SNAP,
      plural: 'volumesnapshots',
      namespace: ns,
      body: {
        apiVersion: 'snapshot.storage.k8s.io/v1',
        kind: 'VolumeSnapshot',
        metadata: { name },
        spec: { source: { persistentVolumeClaimName: source } },
      },
    });
    return waitFor(`snapshot ${name} ready`, async () => {
      const s = (await custom.getNamespacedCustomObject({
        ...SNAP,
        plural: 'volumesnapshots',
        namespace: ns,
        name,
      })) as SnapshotObj;
      return s.status?.readyToUse ? s : undefined;
    });
  }

  it('binds a Block PVC to a sparse file of the requested size and a Filesystem PVC to a directory', async () => {
    await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: pvc('disk', '4Mi', 'Block') });
    await core.createNamespacedPersistentVolumeClaim({
      namespace: ns,
      body: pvc('files', '1Mi', 'Filesystem'),
    });
    const disk = await bound('disk');
    expect(disk.status?.capacity?.storage).to.equal('4Mi');
    expect(disk.spec?.volumeName).to.equal(`pvc-${disk.metadata?.uid}`);
    const pv = await core.readPersistentVolume({ name: disk.spec!.volumeName! });
    expect(pv.spec?.claimRef).to.include({ namespace: ns, name: 'disk' });
    expect(pv.spec?.volumeMode).to.equal('Block');
    expect(pv.status?.phase).to.equal('Bound');
    const path = await sb.cluster!.volumePath(ns, 'disk');
    const st = await stat(path);
    expect(st.isFile()).to.equal(true);
    expect(st.size).to.equal(4 * 2 ** 20);
    expect(st.blocks).to.equal(0);
    // Owned like a CSI device node: root:disk 0660 (given away only when the sandbox runs as root).
    expect(st.mode & 0o777).to.equal(0o660);
    if (process.getuid?.() === 0) expect([st.uid, st.gid]).to.deep.equal([0, 6]);

    await bound('files');
    expect((await stat(await sb.cluster!.volumePath(ns, 'files'))).isDirectory()).to.equal(true);

    // Deleting the claim reclaims the volume (policy Delete) and frees its data.
    await core.deleteNamespacedPersistentVolumeClaim({ namespace: ns, name: 'disk' });
    await gone('PV deleted', () => core.readPersistentVolume({ name: pv.metadata!.name! }));
    await gone('volume data freed', () => stat(path));
  });

  it('snapshots a volume at that instant and provisions a PVC from the snapshot', async () => {
    await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: pvc('disk', '2Mi', 'Block') });
    await bound('disk');
    const disk = await sb.cluster!.volumePath(ns, 'disk');
    await writeAt(disk, 65536, 'before-snapshot');

    const snap = await snapshot('snap-1', 'disk');
    expect(snap.status?.restoreSize).to.equal('2Mi');
    const contentName = snap.status!.boundVolumeSnapshotContentName!;
    expect(contentName).to.equal(`snapcontent-${snap.metadata.uid}`);
    const content = (await custom.getClusterCustomObject({
      ...SNAP,
      plural: 'volumesnapshotcontents',
      name: contentName,
    })) as {
      spec: { deletionPolicy: string; sourceVolumeMode: string };
      status: { readyToUse: boolean; restoreSize: number };
    };
    expect(content.spec).to.include({ deletionPolicy: 'Delete', sourceVolumeMode: 'Block' });
    expect(content.status).to.include({ readyToUse: true, restoreSize: 2 * 2 ** 20 });

    await writeAt(disk, 65536, 'AFTER--SNAPSHOT');
    await core.createNamespacedPersistentVolumeClaim({
      namespace: ns,
      body: pvc('restored', '3Mi', 'Block', {
        dataSource: { apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: 'snap-1' },
      }),
    });
    await bound('restored');
    const restoredPath = await sb.cluster!.volumePath(ns, 'restored');
    expect((await stat(restoredPath)).mode & 0o777).to.equal(0o660);
    const restored = await readFile(restoredPath);
    expect(restored.length).to.equal(3 * 2 ** 20);
    expect(restored.subarray(65536, 65536 + 15).toString()).to.equal('before-snapshot');
    expect((await readFile(disk)).subarray(65536, 65536 + 15).toString()).to.equal('AFTER--SNAPSHOT');

    // Deleting the snapshot deletes its content (deletionPolicy Delete) and frees the copy.
    const snapDir = join(sb.stateDir, 'cluster', 'snapshots', contentName);
    expect((await stat(snapDir)).isDirectory()).to.equal(true);
    await custom.deleteNamespacedCustomObject({
      ...SNAP,
      plural: 'volumesnapshots',
      namespace: ns,
      name: 'snap-1',
    });
    await gone('content deleted', () =>
      custom.getClusterCustomObject({ ...SNAP, plural: 'volumesnapshotcontents', name: contentName }),
    );
    await gone('snapshot deleted', () =>
      custom.getNamespacedCustomObject({
        ...SNAP,
        plural: 'volumesnapshots',
        namespace: ns,
        name: 'snap-1',
      }),
    );
    await gone('snapshot data freed', () => stat(snapDir));
  });

  it('snapshots Filesystem volumes (a VM disk image inside) and restores them', async () => {
    await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: pvc('fs', '1Mi', 'Filesystem') });
    await bound('fs');
    const dir = await sb.cluster!.volumePath(ns, 'fs');
    await writeFile(join(dir, 'disk.img'), 'v1');
    await snapshot('fs-snap', 'fs');
    await writeFile(join(dir, 'disk.img'), 'v2');
    await core.createNamespacedPersistentVolumeClaim({
      namespace: ns,
      body: pvc('fs-restored', '1Mi', 'Filesystem', {
        dataSourceRef: { apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: 'fs-snap' },
      }),
    });
    await bound('fs-restored');
    expect(
      await readFile(join(await sb.cluster!.volumePath(ns, 'fs-restored'), 'disk.img'), 'utf8'),
    ).to.equal('v1');
  });

  it('reports injected faults like the real components and recovers', async () => {
    sb.cluster!.fail('provisioner', { times: 1, message: 'disk pool exhausted' });
    await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: pvc('flaky', '1Mi', 'Block') });
    await waitFor('ProvisioningFailed event', async () => {
      const evs = await core.listNamespacedEvent({ namespace: ns });
      return evs.items.some(
        (e) => e.reason === 'ProvisioningFailed' && e.message?.includes('disk pool exhausted'),
      );
    });
    await bound('flaky');

    sb.cluster!.fail('snapshotter', { message: 'backend busy' });
    await custom.createNamespacedCustomObject({
      ...SNAP,
      plural: 'volumesnapshots',
      namespace: ns,
      body: {
        apiVersion: 'snapshot.storage.k8s.io/v1',
        kind: 'VolumeSnapshot',
        metadata: { name: 's' },
        spec: { source: { persistentVolumeClaimName: 'flaky' } },
      },
    });
    const errored = await waitFor('snapshot error', async () => {
      const s = (await custom.getNamespacedCustomObject({
        ...SNAP,
        plural: 'volumesnapshots',
        namespace: ns,
        name: 's',
      })) as SnapshotObj;
      return s.status?.error?.message ? s : undefined;
    });
    expect(errored.status?.error?.message).to.contain('backend busy');
    sb.cluster!.fail('snapshotter', { times: 0 });
    await waitFor('snapshot ready after the fault', async () => {
      const s = (await custom.getNamespacedCustomObject({
        ...SNAP,
        plural: 'volumesnapshots',
        namespace: ns,
        name: 's',
      })) as SnapshotObj;
      return s.status?.readyToUse === true && !s.status.error;
    });

    sb.cluster!.pause('provisioner');
    await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: pvc('later', '1Mi', 'Block') });
    await new Promise((r) => setTimeout(r, 200));
    expect(
      (await core.readNamespacedPersistentVolumeClaim({ namespace: ns, name: 'later' })).status?.phase,
    ).to.not.equal('Bound');
    sb.cluster!.resume('provisioner');
    await bound('later');
  });
});
