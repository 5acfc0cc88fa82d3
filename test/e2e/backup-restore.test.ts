/**
 * End to end, through the real client, against the sandbox (or a real cluster, see the README): the real
 * controller Manager runs our reconcilers and real `csbs mover` Jobs move the data.
 */
import { expect } from 'chai';
import { Watch } from '@kubernetes/client-node';
import { Kinds } from '../../src/runtime/kinds.js';
import type { Backup } from '../../src/api/types.js';
import { acquireServerLock, serverLockName } from '../../src/controllers/shared/serverlock.js';
import {
  type Cluster,
  Controller,
  backupOf,
  checksums,
  corruptPacks,
  createRepository,
  createVM,
  fillRandom,
  freshNamespace,
  leftovers,
  oneOff,
  openCluster,
  pvc,
  repositoryReady,
  restoreAndWait,
  scribble,
  testSettings,
  waitFor,
} from './harness.js';

const MiB = 1 << 20;

async function noLeftovers(cluster: Cluster, ns: string) {
  await waitFor(
    'no snapshots, temporary PVCs, Jobs or locks left behind',
    async () => {
      const left = (await leftovers(cluster.client, ns)).filter((l) => !l.startsWith('PVC/copy-'));
      return left.length === 0 ? true : (left as unknown as undefined);
    },
    20_000,
  );
}

/** Counts ADDED events per name of a kind in a namespace: a re-created child shows up twice. */
async function countCreations(
  cluster: Cluster,
  ns: string,
  path: string,
): Promise<{ counts: Map<string, number>; stop: () => void }> {
  const counts = new Map<string, number>();
  const req = await new Watch(cluster.kubeConfig).watch(
    path,
    {},
    (type: string, obj: { metadata?: { name?: string } }) => {
      if (type === 'ADDED')
        counts.set(obj.metadata?.name ?? '', (counts.get(obj.metadata?.name ?? '') ?? 0) + 1);
    },
    () => {},
  );
  void ns;
  return { counts, stop: () => req.abort() };
}

/** Records each VolumeSnapshot's cut time (status.creationTime) as the snapshotter reports it. */
async function recordCuts(
  cluster: Cluster,
  ns: string,
): Promise<{ cuts: Map<string, string>; stop: () => void }> {
  const cuts = new Map<string, string>();
  const req = await new Watch(cluster.kubeConfig).watch(
    `/apis/snapshot.storage.k8s.io/v1/namespaces/${ns}/volumesnapshots`,
    {},
    (_type: string, obj: { metadata?: { name?: string }; status?: { creationTime?: string } }) => {
      if (obj.status?.creationTime) cuts.set(obj.metadata?.name ?? '', obj.status.creationTime);
    },
    () => {},
  );
  return { cuts, stop: () => req.abort() };
}

describe('e2e: backups and restores through the controller', function () {
  this.timeout(240_000);
  let cluster: Cluster;
  let controller: Controller;

  before(async function () {
    cluster = await openCluster();
    // Until the simulated cluster is wired into startSandbox, nothing would bind or run: skip.
    if (!cluster.usable) this.skip();
    controller = new Controller(cluster);
    await controller.start();
  });
  after(async () => {
    await controller?.stop();
    await cluster?.close();
  });

  it('full, then incremental uploading only changed blocks; restores match; deleting the full and the middle keeps the last restorable', async function () {
    const c = cluster.client;
    const ns = await freshNamespace(c, 'chain');
    await createRepository(c, ns, 'repo', 4096);
    const claims = await createVM(c, ns, 'vm1', [
      { name: 'root', size: '16Mi' },
      { name: 'data', size: '8Mi' },
    ]);
    const ready = await repositoryReady(cluster, ns);
    expect(ready.status?.storedBytes, 'status.storedBytes of a fresh repository').to.equal(0);
    expect(ready.status?.stored).to.equal('0');
    await fillRandom(cluster, ns, [claims[0]], 16);
    await fillRandom(cluster, ns, [claims[1]], 8);
    const sums0 = await checksums(cluster, ns, claims);

    // 1. Full backup.
    const cutWatch = await recordCuts(cluster, ns);
    await oneOff(c, ns, 'first', { server: { kind: 'VirtualMachine', name: 'vm1' } });
    const full = await backupOf(c, ns, 'first');
    cutWatch.stop();
    expect(full.status?.phase, full.status?.message).to.equal('Available');
    expect(full.spec.backupName).to.match(/^manualbk_[0-9a-f]{4}$/);
    expect(full.status?.type).to.equal('Full');
    expect(full.status?.totals?.sizeBytes).to.equal(24 * MiB);
    expect(full.status?.totals?.size).to.equal('24Mi');
    expect(full.status?.totals?.uploaded).to.match(/^2[34](\.\d+)?Mi$/);
    // Random data does not compress: a full upload stores about all of it.
    expect(full.status?.totals?.uploadedBytes).to.be.greaterThan(23 * MiB);
    expect(full.status?.volumes?.map((v) => v.pvc)).to.deep.equal(claims);
    expect(full.status?.volumes?.every((v) => v.manifestID)).to.equal(true);
    expect(full.metadata.ownerReferences ?? []).to.deep.equal([]);
    if (!cluster.real) {
      expect(full.status?.consistency, JSON.stringify(full.status?.conditions)).to.equal(
        'ApplicationConsistent',
      );
      const log = cluster.sandbox?.cluster?.freezeLog(ns, 'vm1') ?? [];
      expect(log.map((r) => `${r.action}:${r.ok}`)).to.deep.equal(['freeze:true', 'unfreeze:true']);
      // Every snapshot was cut while the guest was frozen: after the freeze, before the thaw.
      const cuts = [...cutWatch.cuts.values()].map((t) => new Date(t).getTime());
      expect(cuts).to.have.length(2);
      const [frozen, thawed] = log.map((r) => new Date(r.time).getTime());
      for (const cut of cuts) expect(cut).to.be.within(frozen, thawed);
    }
    await noLeftovers(cluster, ns);

    // 2. Change 3 blocks of the root disk: the incremental uploads only those.
    await scribble(cluster, ns, claims[0], [10, 1000, 3000]);
    const sums1 = await checksums(cluster, ns, claims);
    await oneOff(c, ns, 'second', { server: { kind: 'VirtualMachine', name: 'vm1' } });
    const inc = await backupOf(c, ns, 'second');
    expect(inc.status?.phase, inc.status?.message).to.equal('Available');
    expect(inc.status?.type).to.equal('Incremental');
    expect(inc.status?.parentBackup).to.equal(full.metadata.name);
    expect(inc.status?.totals?.changedBytes).to.equal(3 * 4096);
    expect(inc.status?.totals?.uploadedBytes)
      .to.be.greaterThan(3 * 4000)
      .and.lessThan(64 * 1024);

    // 3. A third, after more changes.
    await scribble(cluster, ns, claims[1], [0, 1, 2, 100]);
    const sums2 = await checksums(cluster, ns, claims);
    await oneOff(c, ns, 'third', { server: { kind: 'VirtualMachine', name: 'vm1' } });
    const last = await backupOf(c, ns, 'third');
    expect(last.status?.type).to.equal('Incremental');
    expect(last.status?.parentBackup).to.equal(inc.metadata.name);
    expect(last.status?.totals?.changedBytes).to.equal(4 * 4096);

    // 4. Restore the full in place: the VM is halted, its disks rolled back, then started again; the
    // Backup shows Restoring meanwhile.
    const phases: string[] = [];
    const phaseWatch = await new Watch(cluster.kubeConfig).watch(
      `/apis/csbs.dev/v1alpha1/namespaces/${ns}/backups`,
      { fieldSelector: `metadata.name=${full.metadata.name}` },
      (_t: string, o: Backup) => {
        const p = o.status?.phase ?? '';
        if (phases[phases.length - 1] !== p) phases.push(p);
      },
      () => {},
    );
    const r1 = await restoreAndWait(c, ns, 'back-to-first', {
      backupRef: { name: full.metadata.name ?? '' },
    });
    await waitFor('the Backup Available again', async () => phases[phases.length - 1] === 'Available');
    phaseWatch.abort();
    expect(phases).to.include('Restoring');
    expect(r1.status?.phase, r1.status?.message).to.equal('Completed');
    expect(await checksums(cluster, ns, claims)).to.deep.equal(sums0);
    // Only the blocks that differ were rewritten (3 + 4 blocks).
    expect(r1.status?.volumes?.reduce((n, v) => n + (v.restoredBytes ?? 0), 0)).to.equal(7 * 4096);
    const vm = await c.get(Kinds.VirtualMachine, ns, 'vm1');
    expect((vm.spec as { runStrategy?: string }).runStrategy).to.equal('Always');
    expect(vm.metadata?.annotations?.['csbs.dev/original-run-strategy']).to.equal(undefined);

    // 5. Restore the middle one into new PVCs: the copies match what was backed up.
    const r2 = await restoreAndWait(c, ns, 'copy-second', {
      backupRef: { name: inc.metadata.name ?? '' },
      target: { mode: 'NewPVCs', pvcNamePrefix: 'copy-' },
    });
    expect(r2.status?.phase, r2.status?.message).to.equal('Completed');
    expect(await checksums(cluster, ns, ['copy-root', 'copy-data'])).to.deep.equal(sums1);

    // 6. Delete the full and the middle backup: their manifests go, the last still restores whole.
    await c.delete(Kinds.Backup, ns, full.metadata.name ?? '');
    await c.delete(Kinds.Backup, ns, inc.metadata.name ?? '');
    for (const b of [full, inc])
      await waitFor(
        `Backup ${b.metadata.name} gone`,
        async () => !(await c.tryGet(Kinds.Backup, ns, b.metadata.name ?? '')),
        60_000,
        async () => JSON.stringify((await c.tryGet(Kinds.Backup, ns, b.metadata.name ?? ''))?.status),
      );
    const r3 = await restoreAndWait(c, ns, 'to-last', { backupRef: { name: last.metadata.name ?? '' } });
    expect(r3.status?.phase, r3.status?.message).to.equal('Completed');
    expect(await checksums(cluster, ns, claims)).to.deep.equal(sums2);

    // Removing the requests never removes backups. (The Backup turns from Restoring back to
    // Available in its own reconcile after the Restore ends, so wait for that first.)
    const available = async () =>
      (await c.tryGet(Kinds.Backup, ns, last.metadata.name ?? ''))?.status?.phase === 'Available';
    await waitFor(`Backup ${last.metadata.name} Available again after the restore`, available);
    await c.delete(Kinds.OneOffBackup, ns, 'third');
    await new Promise((r) => setTimeout(r, 500));
    expect(await available()).to.equal(true, 'the Backup outlives its OneOffBackup');
    await noLeftovers(cluster, ns);
  });

  it('a guest without the guest agent is backed up crash-consistent, not failed', async function () {
    const c = cluster.client;
    const ns = await freshNamespace(c, 'noagent');
    await createRepository(c, ns);
    await createVM(c, ns, 'vm2', [{ name: 'root', size: '8Mi' }], { agent: false });
    await repositoryReady(cluster, ns);
    await oneOff(c, ns, 'req', { server: { kind: 'VirtualMachine', name: 'vm2' } });
    const b = await backupOf(c, ns, 'req');
    expect(b.status?.phase, b.status?.message).to.equal('Available');
    expect(b.status?.consistency).to.equal('CrashConsistent');
    const q = b.status?.conditions?.find((x) => x.type === 'Quiesced');
    expect(q?.status).to.equal('False');
    expect(q?.reason).to.equal('GuestAgentUnavailable');
    expect(q?.message).to.contain('crash-consistent');
  });

  it('a PVC group is backed up, and one backup per server runs at a time', async () => {
    const c = cluster.client;
    const ns = await freshNamespace(c, 'group');
    await createRepository(c, ns);
    for (const n of ['db-a', 'db-b'])
      await c.create(Kinds.PersistentVolumeClaim, {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: { name: n, namespace: ns, labels: { 'csbs.dev/server': 'db' } },
        spec: {
          accessModes: ['ReadWriteOnce'],
          volumeMode: 'Block',
          resources: { requests: { storage: '8Mi' } },
        },
      });
    await repositoryReady(cluster, ns);
    await fillRandom(cluster, ns, ['db-a', 'db-b'], 8);
    await oneOff(c, ns, 'one', { server: { kind: 'PVCGroup', name: 'db' } });
    await oneOff(c, ns, 'two', { server: { kind: 'PVCGroup', name: 'db' } });
    const [b1, b2] = [await backupOf(c, ns, 'one'), await backupOf(c, ns, 'two')];
    for (const b of [b1, b2]) expect(b.status?.phase, b.status?.message).to.equal('Available');
    // Serialised: one ran to the end before the other started, so one is the other's parent.
    const [first, second] = [b1, b2].sort((a, b) =>
      (a.status?.startTime ?? '').localeCompare(b.status?.startTime ?? ''),
    );
    expect((second.status?.startTime ?? '') >= (first.status?.completionTime ?? 'z')).to.equal(true);
    expect(second.status?.type).to.equal('Incremental');
    expect(second.status?.parentBackup).to.equal(first.metadata.name);
    expect(second.status?.totals?.changedBytes).to.equal(0);
    expect(first.status?.consistency).to.equal('CrashConsistent');
    await noLeftovers(cluster, ns);
  });

  it('invalid requests fail with a message saying what to fix', async () => {
    const c = cluster.client;
    const ns = await freshNamespace(c, 'invalid');
    await oneOff(c, ns, 'no-repo', { server: { kind: 'VirtualMachine', name: 'ghost' } });
    const reason = async (name: string) =>
      waitFor(`OneOffBackup ${name} rejected`, async () => {
        const o = await c.get(Kinds.OneOffBackup, ns, name);
        return o.status?.phase === 'Failed' ? o.status.message : undefined;
      });
    expect(await reason('no-repo')).to.equal(
      `VirtualMachine ghost not found in namespace ${ns}: create it or fix spec.server`,
    );
    await createRepository(c, ns);
    await oneOff(c, ns, 'bad-repo', {
      server: { kind: 'VirtualMachine', name: 'ghost' },
      repositoryRef: { name: 'nope' },
    });
    expect(await reason('bad-repo')).to.equal(
      `BackupRepository nope not found in namespace ${ns}: create it or fix spec.repositoryRef`,
    );
    const r = await restoreAndWait(c, ns, 'r', { backupRef: { name: 'manualbk-0000' } });
    expect(r.status?.message).to.equal(
      `Backup manualbk-0000 not found in namespace ${ns} after waiting 3s: fix spec.backupRef`,
    );
    expect(r.status?.conditions?.find((x) => x.type === 'Failed')?.reason).to.equal('BackupNotFound');
  });

  it('a failing mover Job (wrong key) marks the Backup Failed with what the mover said, and cleans up', async () => {
    const c = cluster.client;
    const ns = await freshNamespace(c, 'wrongkey');
    await createRepository(c, ns);
    const claims = await createVM(c, ns, 'vm3', [{ name: 'root', size: '8Mi' }]);
    await repositoryReady(cluster, ns);
    await fillRandom(cluster, ns, claims, 1);
    await c.patch(
      Kinds.Secret,
      ns,
      'repo-key',
      { data: null, stringData: { 'repository-key': 'not-the-key' } },
      'application/merge-patch+json',
    );
    await oneOff(c, ns, 'req', { server: { kind: 'VirtualMachine', name: 'vm3' } });
    const b = await backupOf(c, ns, 'req');
    expect(b.status?.phase).to.equal('Failed');
    expect(b.status?.message).to.match(
      /^volume root \(PVC vm3-root\): upload failed, mover exited 3 \(wrong repository key\): the repository key does not open/,
    );
    expect(b.status?.conditions?.find((x) => x.type === 'Failed')?.reason).to.equal('WrongKey');
    // The OneOffBackup summarises its Backups on its own reconcile, so it may lag the Backup briefly.
    const o = await waitFor('OneOffBackup req to fail', async () => {
      const x = await c.get(Kinds.OneOffBackup, ns, 'req');
      return x.status?.phase === 'Failed' ? x : undefined;
    });
    expect(o.status?.message).to.contain('mover exited 3');
    await noLeftovers(cluster, ns);
  });

  it('a snapshot failure fails the backup and still thaws the guest (sandbox fault injection)', async function () {
    if (!cluster.sandbox?.cluster) this.skip();
    const c = cluster.client;
    const ns = await freshNamespace(c, 'snapfail');
    await createRepository(c, ns);
    await createVM(c, ns, 'vm4', [{ name: 'root', size: '8Mi' }]);
    await repositoryReady(cluster, ns);
    // A lasting fault: a one-off one is retried by the snapshotter at once, and the Backup could
    // miss the error between the two attempts.
    const snapshotter = cluster.sandbox.cluster;
    snapshotter.fail('snapshotter', { message: 'disk array offline' });
    let b: Backup;
    try {
      await oneOff(c, ns, 'req', { server: { kind: 'VirtualMachine', name: 'vm4' } });
      b = await backupOf(c, ns, 'req');
    } finally {
      snapshotter.fail('snapshotter', { times: 0 });
    }
    expect(b.status?.phase).to.equal('Failed');
    expect(b.status?.message)
      .to.contain('VolumeSnapshot manualbk-')
      .and.to.contain('of PVC vm4-root failed')
      .and.to.contain('disk array offline');
    const log = cluster.sandbox.cluster.freezeLog(ns, 'vm4');
    expect(log.map((r) => `${r.action}:${r.ok}`)).to.deep.equal(['freeze:true', 'unfreeze:true']);
    await noLeftovers(cluster, ns);
  });

  it('a killed mover pod fails the backup with the reason and cleans up (sandbox fault injection)', async function () {
    if (!cluster.sandbox?.cluster) this.skip();
    const c = cluster.client;
    const ns = await freshNamespace(c, 'podfail');
    await createRepository(c, ns);
    await createVM(c, ns, 'vm5', [{ name: 'root', size: '8Mi' }]);
    await repositoryReady(cluster, ns);
    cluster.sandbox.cluster.fail('kubelet', { times: 1, message: 'container killed' });
    await oneOff(c, ns, 'req', { server: { kind: 'VirtualMachine', name: 'vm5' } });
    const b = await backupOf(c, ns, 'req');
    expect(b.status?.phase).to.equal('Failed');
    expect(b.status?.message).to.match(/^volume root \(PVC vm5-root\): upload failed, mover exited 128/);
    await noLeftovers(cluster, ns);
  });

  it("deleting a Backup deletes its children, never another's object labelled alike", async () => {
    const c = cluster.client;
    const ns = await freshNamespace(c, 'foreign');
    await createRepository(c, ns);
    await createVM(c, ns, 'vm9', [{ name: 'root', size: '8Mi' }]);
    await repositoryReady(cluster, ns);
    await oneOff(c, ns, 'req', { server: { kind: 'VirtualMachine', name: 'vm9' } });
    const b = await backupOf(c, ns, 'req');
    expect(b.status?.phase, b.status?.message).to.equal('Available');
    const name = b.metadata.name ?? '';
    // Someone else's claim that happens to carry the backup's child label, but not managed-by.
    await c.create(
      Kinds.PersistentVolumeClaim,
      pvc(ns, 'not-ours', '1Mi', true, { 'csbs.dev/backup': name }),
    );
    await c.delete(Kinds.Backup, ns, name);
    await waitFor(`Backup ${name} gone`, async () => !(await c.tryGet(Kinds.Backup, ns, name)));
    expect(await c.tryGet(Kinds.PersistentVolumeClaim, ns, 'not-ours')).to.not.equal(undefined);
    await c.delete(Kinds.PersistentVolumeClaim, ns, 'not-ours');
    await noLeftovers(cluster, ns);
  });

  it('a backup that took its server and then waits (PVC not bound) lets the server go', async () => {
    const c = cluster.client;
    const ns = await freshNamespace(c, 'waitlock');
    await createRepository(c, ns);
    await repositoryReady(cluster, ns);
    // A claim of the group bound ahead to a volume that does not exist: it stays Pending.
    const claim = pvc(ns, 'stuck', '1Mi', true, { 'csbs.dev/server': 'g' });
    claim.spec!.volumeName = 'no-such-pv';
    await c.create(Kinds.PersistentVolumeClaim, claim);
    // As if the Backup had taken the lock and then gone back to waiting (a crash between the two).
    const server = { kind: 'PVCGroup', name: 'g' } as const;
    expect(await acquireServerLock(c, ns, server, 'Backup/manualbk-held', async () => true)).to.deep.equal({
      acquired: true,
    });
    // Made by hand (as GitOps may), so its name is known before it exists.
    await c.create(Kinds.Backup, {
      apiVersion: 'csbs.dev/v1alpha1',
      kind: 'Backup',
      metadata: { name: 'manualbk-held', namespace: ns },
      spec: { backupName: 'manualbk_held', origin: 'OneOff', server, repositoryRef: { name: 'repo' } },
    } as Backup);
    await waitFor('Backup manualbk-held waiting for its PVC', async () => {
      const x = await c.tryGet(Kinds.Backup, ns, 'manualbk-held');
      return x?.status?.conditions?.find((k) => k.type === 'Progressing')?.reason === 'PVCNotBound';
    });
    // Released while it still waits (it fails, and would release anyway, only after the 30 s grace).
    await waitFor(
      'the server lock released',
      async () => !(await c.tryGet(Kinds.Lease, ns, serverLockName(server))),
      10_000,
    );
    expect((await c.get(Kinds.Backup, ns, 'manualbk-held')).status?.phase).to.equal('Pending');
    await c.delete(Kinds.Backup, ns, 'manualbk-held');
    await c.delete(Kinds.PersistentVolumeClaim, ns, 'stuck');
  });

  it('a block device the mover Job may not open fails the backup naming the user and the fix (sandbox)', async function () {
    // The sandbox enforces the pod's user and groups only when it runs as root (as CI does).
    if (!cluster.sandbox?.cluster || process.getuid?.() !== 0) this.skip();
    const c = cluster.client;
    const ns = await freshNamespace(c, 'devgroup');
    await createRepository(c, ns);
    await createVM(c, ns, 'vm8', [{ name: 'root', size: '8Mi' }]);
    await repositoryReady(cluster, ns);
    // A controller told the nodes' devices belong to another group than they do.
    const settings = testSettings();
    settings.jobs.blockDeviceGroup = 4242;
    const misconfigured = new Controller(cluster, settings);
    await controller.stop();
    try {
      await misconfigured.start();
      await oneOff(c, ns, 'req', { server: { kind: 'VirtualMachine', name: 'vm8' } });
      const b = await backupOf(c, ns, 'req');
      expect(b.status?.phase).to.equal('Failed');
      expect(b.status?.message)
        .to.match(/^volume root \(PVC vm8-root\): upload failed, mover exited 6/)
        .and.to.match(/permission denied.*running as uid 65532, groups [0-9,]*4242/)
        .and.to.contain("set the controller's CSBS_BLOCK_DEVICE_GROUP to the device's group");
    } finally {
      await misconfigured.stop();
      await controller.start();
    }
    await noLeftovers(cluster, ns);
  });

  it('restoring corrupt data fails naming the damaged block, and leaves the VM stopped (sandbox)', async function () {
    if (!cluster.sandbox?.cluster) this.skip();
    const c = cluster.client;
    const ns = await freshNamespace(c, 'corrupt');
    await createRepository(c, ns);
    const claims = await createVM(c, ns, 'vm7', [{ name: 'root', size: '8Mi' }]);
    await repositoryReady(cluster, ns);
    await fillRandom(cluster, ns, claims, 8);
    await oneOff(c, ns, 'req', { server: { kind: 'VirtualMachine', name: 'vm7' } });
    const b = await backupOf(c, ns, 'req');
    expect(b.status?.phase, b.status?.message).to.equal('Available');
    // The mover names the damaged block (its restore message has no volume offset yet; verify has).
    // Damage every stored block (a byte every 2 KiB of each pack), and change the disk so the
    // restore must read blocks back.
    const damaged = await corruptPacks(cluster, ns, { first: 1024, every: 2048 });
    expect(damaged).to.be.greaterThan(0);
    await scribble(cluster, ns, claims[0], [5, 500]);
    const r = await restoreAndWait(c, ns, 'r', { backupRef: { name: b.metadata.name ?? '' } });
    expect(r.status?.phase).to.equal('Failed');
    expect(r.status?.conditions?.find((x) => x.type === 'Failed')?.reason).to.equal('CorruptData');
    expect(r.status?.message).to.match(
      /^volume root \(PVC vm7-root\): restore failed, mover exited 5 \(corrupt data found\): .*(block|blob) [0-9a-f]+/,
    );
    expect(r.status?.message).to.contain('VirtualMachine vm7 was left stopped');
    const stopped = r.status?.conditions?.find((x) => x.type === 'ServerStopped');
    expect(stopped?.status).to.equal('True');
    expect(stopped?.message).to.contain('restore again');
    const vm = await c.get(Kinds.VirtualMachine, ns, 'vm7');
    expect((vm.spec as { runStrategy?: string }).runStrategy).to.equal('Halted');
    await noLeftovers(cluster, ns);
  });

  it('a controller killed at every step resumes without duplicates or orphans', async () => {
    const c = cluster.client;
    const ns = await freshNamespace(c, 'restart');
    await createRepository(c, ns);
    const claims = await createVM(c, ns, 'vm6', [
      { name: 'root', size: '8Mi' },
      { name: 'data', size: '8Mi' },
    ]);
    await repositoryReady(cluster, ns);
    await fillRandom(cluster, ns, claims, 8);
    const jobs = await countCreations(cluster, ns, `/apis/batch/v1/namespaces/${ns}/jobs`);
    const snaps = await countCreations(
      cluster,
      ns,
      `/apis/snapshot.storage.k8s.io/v1/namespaces/${ns}/volumesnapshots`,
    );
    const backups = await countCreations(cluster, ns, `/apis/csbs.dev/v1alpha1/namespaces/${ns}/backups`);
    try {
      const seen: string[] = [];
      // Kill the controller as soon as the backup reaches each phase, then start a new one.
      await oneOff(c, ns, 'req', { server: { kind: 'VirtualMachine', name: 'vm6' } });
      for (const phase of ['Pending', 'Snapshotting', 'Uploading']) {
        const b = await waitFor(`a Backup in ${phase} or later`, async () => {
          const list = await c.list(Kinds.Backup, ns);
          const x = list.items[0] as Backup | undefined;
          const order = ['Pending', 'Snapshotting', 'Uploading', 'Available', 'Failed'];
          return x && order.indexOf(x.status?.phase ?? 'Pending') >= order.indexOf(phase) ? x : undefined;
        });
        seen.push(b.status?.phase ?? 'Pending');
        await controller.stop();
        await controller.start();
      }
      const b = await backupOf(c, ns, 'req');
      expect(b.status?.phase, b.status?.message).to.equal('Available');
      expect(seen.length).to.equal(3);
      await noLeftovers(cluster, ns);
      expect([...backups.counts.values()]).to.deep.equal([1]);
      expect([...snaps.counts.values()].every((n) => n === 1)).to.equal(true);
      expect(snaps.counts.size).to.equal(2);
      const uploads = [...jobs.counts.entries()].filter(([n]) => n.endsWith('-upload'));
      expect(uploads.map(([, n]) => n)).to.deep.equal([1]);
      if (!cluster.real) {
        const log = cluster.sandbox?.cluster?.freezeLog(ns, 'vm6') ?? [];
        expect(log.filter((r) => r.action === 'freeze' && r.ok).length).to.be.at.most(
          log.filter((r) => r.action === 'unfreeze').length,
        );
      }
    } finally {
      jobs.stop();
      snaps.stop();
      backups.stop();
    }
  });
});
