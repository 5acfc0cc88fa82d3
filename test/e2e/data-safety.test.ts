/**
 * End to end, the data-safety rules (issue 9): restores never write a disk they must not, repositories
 * never vanish under their backups, pods that cannot start never hold a server, names never collide.
 * Each test drives the real controller through the API, as an unlucky operator would.
 */
import { expect } from 'chai';
import { Kinds } from '../../src/runtime/kinds.js';
import type { Backup, Restore } from '../../src/api/types.js';
import {
  type Cluster,
  Controller,
  backupOf,
  breakRepositoryKey,
  checksums,
  corruptPacks,
  createRepository,
  createVM,
  fillRandom,
  freshNamespace,
  oneOff,
  openCluster,
  repositoryReady,
  restoreAndWait,
  scribble,
  testSettings,
  waitFor,
} from './harness.js';

function restoreObject(ns: string, name: string, spec: Restore['spec']): Restore {
  return { apiVersion: 'csbs.dev/v1alpha1', kind: 'Restore', metadata: { name, namespace: ns }, spec };
}

describe('e2e: data safety', function () {
  this.timeout(240_000);
  let cluster: Cluster;
  let controller: Controller;
  const settings = testSettings();
  settings.backupWaitMs = 6_000;

  /** A fresh namespace with a ready repository and a running VM whose one disk holds `mib` MiB of random data. */
  async function serverWithData(prefix: string, vm: string, mib: number) {
    const ns = await freshNamespace(cluster.client, prefix);
    await createRepository(cluster.client, ns);
    const claims = await createVM(cluster.client, ns, vm, [{ name: 'root', size: `${mib}Mi` }]);
    await repositoryReady(cluster, ns);
    await fillRandom(cluster, ns, claims, mib);
    return { ns, claims };
  }

  before(async function () {
    cluster = await openCluster();
    if (!cluster.usable) this.skip();
    controller = new Controller(cluster, settings);
    await controller.start();
  });
  after(async () => {
    await controller?.stop();
    await cluster?.close();
  });

  it("a NewPVCs restore never writes into another VM's PVCs, and removes its own copies when it fails", async () => {
    const c = cluster.client;
    const ns = await freshNamespace(c, 'newpvcs');
    await createRepository(c, ns);
    const web = await createVM(c, ns, 'web-1', [{ name: 'root', size: '8Mi' }]);
    // Another, running VM whose disk happens to be named like the restore's target.
    const victim = await createVM(c, ns, 'victim', [{ name: 'root', size: '8Mi' }]);
    await repositoryReady(cluster, ns);
    await fillRandom(cluster, ns, web, 8);
    await fillRandom(cluster, ns, victim, 8);
    const victimSums = await checksums(cluster, ns, victim);
    await oneOff(c, ns, 'req', { server: { kind: 'VirtualMachine', name: 'web-1' } });
    const b = await backupOf(c, ns, 'req');
    expect(b.status?.phase, b.status?.message).to.equal('Available');

    const r = await restoreAndWait(c, ns, 'into-victim', {
      backupRef: { name: b.metadata.name ?? '' },
      target: { mode: 'NewPVCs', pvcNamePrefix: 'victim-' },
    });
    expect(r.status?.phase).to.equal('Failed');
    expect(r.status?.conditions?.find((x) => x.type === 'Failed')?.reason).to.equal('TargetExists');
    expect(r.status?.message).to.contain('PVC victim-root already exists');
    expect(r.status?.message).to.contain('pvcNamePrefix');
    const vm = await c.get(Kinds.VirtualMachine, ns, 'victim');
    expect(vm.status?.printableStatus).to.equal('Running');
    expect(await checksums(cluster, ns, victim)).to.deep.equal(victimSums);
    expect(await c.tryGet(Kinds.Job, ns, 'into-victim-restore')).to.equal(undefined);

    // A restore into fresh names that fails (wrong key now) removes the copies it created.
    const goodKey = await breakRepositoryKey(c, ns);
    const failed = await restoreAndWait(c, ns, 'copy', {
      backupRef: { name: b.metadata.name ?? '' },
      target: { mode: 'NewPVCs', pvcNamePrefix: 'copy-' },
    });
    expect(failed.status?.phase).to.equal('Failed');
    expect(failed.status?.message).to.contain('removed the new PVC(s) copy-root it had created');
    await waitFor(
      'the half-written copy gone',
      async () => !(await c.tryGet(Kinds.PersistentVolumeClaim, ns, 'copy-root')),
    );
    await c.patch(Kinds.Secret, ns, 'repo-key', { data: goodKey });
  });

  it('an in-place restore fails loudly when the VM is started under it, and leaves it halted', async function () {
    if (!cluster.sandbox?.cluster) this.skip();
    const c = cluster.client;
    const { ns, claims } = await serverWithData('started', 'vm1', 32);
    await oneOff(c, ns, 'req', { server: { kind: 'VirtualMachine', name: 'vm1' } });
    const b = await backupOf(c, ns, 'req');
    expect(b.status?.phase, b.status?.message).to.equal('Available');
    await fillRandom(cluster, ns, claims, 32);
    // Hold the restore Job's pod back so the start lands while the restore is under way.
    const sim = cluster.sandbox.cluster;
    sim.pause('jobs');
    let r: Restore;
    try {
      await c.create(Kinds.Restore, restoreObject(ns, 'r', { backupRef: { name: b.metadata.name ?? '' } }));
      await waitFor(
        'Restoring',
        async () => (await c.get(Kinds.Restore, ns, 'r')).status?.phase === 'Restoring',
      );
      // Started and halted again at once: only the VM's generation tells.
      await c.patch(Kinds.VirtualMachine, ns, 'vm1', { spec: { runStrategy: 'Always' } });
      await c.patch(Kinds.VirtualMachine, ns, 'vm1', { spec: { runStrategy: 'Halted' } });
      r = await waitFor('the restore to end', async () => {
        const x = await c.get(Kinds.Restore, ns, 'r');
        return x.status?.phase === 'Completed' || x.status?.phase === 'Failed' ? x : undefined;
      });
    } finally {
      sim.resume('jobs');
    }
    expect(r.status?.phase, r.status?.message).to.equal('Failed');
    expect(r.status?.conditions?.find((x) => x.type === 'Failed')?.reason).to.equal(
      'ServerStartedDuringRestore',
    );
    expect(r.status?.message).to.match(
      /VirtualMachine vm1 was started during the restore \((its runStrategy was set to Always|its spec changed|an instance of it is \w+)/,
    );
    expect(r.status?.conditions?.find((x) => x.type === 'ServerStopped')?.status).to.equal('True');
    const vm = await c.get(Kinds.VirtualMachine, ns, 'vm1');
    expect((vm.spec as { runStrategy?: string }).runStrategy).to.equal('Halted');
    expect(vm.metadata?.annotations?.['csbs.dev/restore-in-progress']).to.equal(undefined);
    expect(await c.tryGet(Kinds.Job, ns, 'r-restore')).to.equal(undefined);

    // Started for good while the mover writes: noticed at the next poll, halted again.
    await c.create(Kinds.Restore, restoreObject(ns, 'r2', { backupRef: { name: b.metadata.name ?? '' } }));
    sim.pause('jobs');
    let r2: Restore;
    try {
      await waitFor(
        'Restoring',
        async () => (await c.get(Kinds.Restore, ns, 'r2')).status?.phase === 'Restoring',
      );
      await c.patch(Kinds.VirtualMachine, ns, 'vm1', { spec: { runStrategy: 'Always' } });
      r2 = await waitFor('the second restore to end', async () => {
        const x = await c.get(Kinds.Restore, ns, 'r2');
        return x.status?.phase === 'Completed' || x.status?.phase === 'Failed' ? x : undefined;
      });
    } finally {
      sim.resume('jobs');
    }
    expect(r2.status?.message).to.contain(
      'VirtualMachine vm1 was started during the restore (its runStrategy was set to Always)',
    );
    await waitFor('vm1 halted again', async () => {
      const x = await c.get(Kinds.VirtualMachine, ns, 'vm1');
      return (x.spec as { runStrategy?: string }).runStrategy === 'Halted';
    });
  });

  it('a Restore applied before its Backup waits for it; one whose Backup never comes fails after the wait', async () => {
    const c = cluster.client;
    const { ns, claims } = await serverWithData('gitops', 'vm2', 8);
    const sums = await checksums(cluster, ns, claims);
    // Both applied at once, the Restore first: it waits, naming what it waits for.
    await c.create(Kinds.Restore, restoreObject(ns, 'early', { backupRef: { name: 'manualbk-gitops' } }));
    await c.create(Kinds.Restore, restoreObject(ns, 'never', { backupRef: { name: 'manualbk-nothing' } }));
    const waiting = await waitFor('the early Restore Pending', async () => {
      const r = await c.get(Kinds.Restore, ns, 'early');
      return r.status?.phase === 'Pending' ? r : undefined;
    });
    expect(waiting.status?.message).to.contain('waiting for Backup manualbk-gitops to appear');
    expect(waiting.status?.conditions?.find((x) => x.type === 'Progressing')?.reason).to.equal(
      'BackupNotFound',
    );
    await c.create(Kinds.Backup, {
      apiVersion: 'csbs.dev/v1alpha1',
      kind: 'Backup',
      metadata: { name: 'manualbk-gitops', namespace: ns },
      spec: {
        backupName: 'manualbk_gitops',
        origin: 'OneOff',
        server: { kind: 'VirtualMachine', name: 'vm2' },
        repositoryRef: { name: 'repo' },
      },
    } as Backup);
    await scribble(cluster, ns, claims[0], [1, 2, 3]);
    const done = await waitFor(
      'the early Restore to end',
      async () => {
        const r = await c.get(Kinds.Restore, ns, 'early');
        return r.status?.phase === 'Completed' || r.status?.phase === 'Failed' ? r : undefined;
      },
      90_000,
    );
    // The restore waited for the Backup to become Available, so it restores what was there then.
    expect(done.status?.phase, done.status?.message).to.equal('Completed');
    void sums;
    const never = await waitFor('the other Restore to fail', async () => {
      const r = await c.get(Kinds.Restore, ns, 'never');
      return r.status?.phase === 'Failed' ? r : undefined;
    });
    expect(never.status?.message).to.match(
      /Backup manualbk-nothing not found in namespace \S+ after waiting 6s: fix spec.backupRef/,
    );
  });

  it("a Backup's message follows the truth: not 'being restored' once that restore failed", async () => {
    const c = cluster.client;
    const { ns } = await serverWithData('message', 'vm3', 8);
    await oneOff(c, ns, 'req', { server: { kind: 'VirtualMachine', name: 'vm3' } });
    const b = await backupOf(c, ns, 'req');
    const before = b.status?.message;
    expect(before).to.match(/^Full backup of 1 volume\(s\): \d+ bytes uploaded$/);
    // A restore that fails (the key is wrong by now) after the Backup showed it as its reader.
    await breakRepositoryKey(c, ns);
    const r = await restoreAndWait(c, ns, 'r', { backupRef: { name: b.metadata.name ?? '' } });
    expect(r.status?.phase).to.equal('Failed');
    const after = await waitFor(
      'the Backup Available again',
      async () => {
        const x = await c.get(Kinds.Backup, ns, b.metadata.name ?? '');
        return x.status?.phase === 'Available' && !x.status.message?.includes('being restored')
          ? x
          : undefined;
      },
      20_000,
      async () => JSON.stringify((await c.get(Kinds.Backup, ns, b.metadata.name ?? '')).status?.message),
    );
    expect(after.status?.message).to.equal(before);
  });

  it('a BackupRepository stays while Backups use it, saying which; its maintenance Jobs go with it', async () => {
    const c = cluster.client;
    const { ns } = await serverWithData('inuse', 'vm4', 8);
    await oneOff(c, ns, 'req', { server: { kind: 'VirtualMachine', name: 'vm4' } });
    const b = await backupOf(c, ns, 'req');
    expect(b.status?.phase, b.status?.message).to.equal('Available');
    // Both follow the backup at once, without waiting for a gc to measure the repository again.
    const counted = await waitFor('backupCount 1 and storedBytes grown by the upload', async () => {
      const r = await c.get(Kinds.BackupRepository, ns, 'repo');
      const grown = (r.status?.storedBytes ?? 0) >= (b.status?.totals?.uploadedBytes ?? 1);
      return r.status?.backupCount === 1 && grown ? r : undefined;
    });
    expect(counted.status?.storedBytes).to.equal(
      (counted.status?.measuredStoredBytes ?? 0) + (b.status?.totals?.uploadedBytes ?? 0),
    );
    expect(counted.metadata?.finalizers).to.include('csbs.dev/repository-in-use');

    await c.delete(Kinds.BackupRepository, ns, 'repo');
    const held = await waitFor('the deleted repository to say what it waits for', async () => {
      const r = await c.tryGet(Kinds.BackupRepository, ns, 'repo');
      return r?.status?.message?.startsWith('deletion waits') ? r : undefined;
    });
    expect(held.status?.message).to.contain(`1 Backup(s) store data in this repository (${b.metadata.name})`);
    expect(held.status?.conditions?.find((x) => x.type === 'Ready')?.reason).to.equal('RepositoryInUse');
    // The backup still restores while its repository waits.
    const r = await restoreAndWait(c, ns, 'copy', {
      backupRef: { name: b.metadata.name ?? '' },
      target: { mode: 'NewPVCs', pvcNamePrefix: 'copy-' },
    });
    expect(r.status?.phase, r.status?.message).to.equal('Completed');
    await waitFor(
      'the Backup Available again',
      async () => (await c.get(Kinds.Backup, ns, b.metadata.name ?? '')).status?.phase === 'Available',
    );

    // Deleting the Backup removes its data through the repository, then the repository goes.
    const manifests = new Set(b.status?.volumes?.map((v) => v.manifestID));
    await c.delete(Kinds.Backup, ns, b.metadata.name ?? '');
    await waitFor('the Backup gone', async () => !(await c.tryGet(Kinds.Backup, ns, b.metadata.name ?? '')));
    await waitFor('the repository gone', async () => !(await c.tryGet(Kinds.BackupRepository, ns, 'repo')));
    if (cluster.sandbox?.cluster) {
      const { readdir } = await import('node:fs/promises');
      const root = await cluster.sandbox.cluster.volumePath(ns, 'repo-data');
      const left = (await readdir(root, { recursive: true })).map(String);
      for (const m of manifests)
        expect(left.some((f) => f.includes(String(m)))).to.equal(false, `manifest ${m} left`);
    }
    await waitFor(
      'no repository Jobs left',
      async () =>
        (await c.list(Kinds.Job, ns, { labelSelector: 'csbs.dev/repository-job' })).items.length === 0,
    );
  });

  it('a repository backend cannot be changed under its backups; a missing parent makes the next backup Full', async function () {
    if (!cluster.sandbox?.cluster) this.skip();
    const c = cluster.client;
    const ns = await freshNamespace(c, 'parent');
    await createRepository(c, ns);
    const claims = await createVM(c, ns, 'vm5', [{ name: 'root', size: '8Mi' }]);
    await repositoryReady(cluster, ns);
    let err: Error | undefined;
    try {
      await c.patch(Kinds.BackupRepository, ns, 'repo', {
        spec: { backend: { filesystem: { path: '/elsewhere' } } },
      });
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.contain('backend is immutable');
    await fillRandom(cluster, ns, claims, 8);
    await oneOff(c, ns, 'first', { server: { kind: 'VirtualMachine', name: 'vm5' } });
    const first = await backupOf(c, ns, 'first');
    expect(first.status?.phase, first.status?.message).to.equal('Available');
    // The parent's manifest vanishes behind the controller's back.
    const { readdir, rm } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const root = await cluster.sandbox.cluster.volumePath(ns, 'repo-data');
    const id = first.status?.volumes?.[0]?.manifestID ?? '';
    const files = (await readdir(root, { recursive: true })).map(String).filter((f) => f.includes(id));
    expect(files.length).to.be.greaterThan(0);
    for (const f of files) await rm(join(root, f), { recursive: true, force: true });
    await scribble(cluster, ns, claims[0], [7]);
    const sums = await checksums(cluster, ns, claims);
    await oneOff(c, ns, 'second', { server: { kind: 'VirtualMachine', name: 'vm5' } });
    const second = await backupOf(c, ns, 'second');
    expect(second.status?.phase, second.status?.message).to.equal('Available');
    expect(second.status?.type).to.equal('Full');
    expect(second.status?.parentBackup).to.equal(undefined);
    const why = second.status?.conditions?.find((x) => x.type === 'ParentUsable');
    expect(why?.status).to.equal('False');
    expect(why?.reason).to.equal('ParentMissing');
    expect(why?.message).to.contain(`parent Backup ${first.metadata.name} cannot be used`);
    const r = await restoreAndWait(c, ns, 'copy', {
      backupRef: { name: second.metadata.name ?? '' },
      target: { mode: 'NewPVCs', pvcNamePrefix: 'copy-' },
    });
    expect(r.status?.phase, r.status?.message).to.equal('Completed');
    expect(await checksums(cluster, ns, ['copy-root'])).to.deep.equal(sums);
  });

  it('a mover pod that cannot start (key Secret deleted) fails the backup soon, naming the cause, and lets the server go', async function () {
    if (!cluster.sandbox?.cluster) this.skip();
    const c = cluster.client;
    const { ns } = await serverWithData('nosecret', 'vm6', 8);
    const quick = testSettings();
    quick.podStartGraceMs = 2_000;
    await controller.stop();
    const fast = new Controller(cluster, quick);
    await fast.start();
    try {
      // The Secret goes once the upload Job exists, before its pod starts.
      const sim = cluster.sandbox?.cluster;
      sim?.pause('jobs');
      try {
        await oneOff(c, ns, 'req', { server: { kind: 'VirtualMachine', name: 'vm6' } });
        await waitFor('the Backup Uploading', async () => {
          const list = (await c.list(Kinds.Backup, ns)).items;
          return list[0]?.status?.phase === 'Uploading';
        });
        await c.delete(Kinds.Secret, ns, 'repo-key');
      } finally {
        sim?.resume('jobs');
      }
      const b = await backupOf(c, ns, 'req', 60_000);
      expect(b.status?.phase).to.equal('Failed');
      expect(b.status?.conditions?.find((x) => x.type === 'Failed')?.reason).to.equal('PodCannotStart');
      expect(b.status?.message).to.match(
        /pod \S+ cannot start: container \S+: CreateContainerConfigError: .*repo-key/,
      );
      expect(b.status?.message).to.contain('let the server go');
      await waitFor(
        'the server lock released',
        async () =>
          (await c.list(Kinds.Lease, ns, { labelSelector: 'app.kubernetes.io/managed-by=csbs-operator' }))
            .items.length === 0,
      );
    } finally {
      await fast.stop();
      await controller.start();
    }
  });

  it('a OneOffBackup summarises the Backups that still exist once one is deleted', async () => {
    const c = cluster.client;
    const { ns } = await serverWithData('summary', 'vm8', 8);
    await oneOff(c, ns, 'req', { server: { kind: 'VirtualMachine', name: 'vm8' } });
    const b = await backupOf(c, ns, 'req');
    expect(b.status?.phase).to.equal('Available');
    await c.delete(Kinds.Backup, ns, b.metadata.name ?? '');
    await waitFor('the Backup gone', async () => !(await c.tryGet(Kinds.Backup, ns, b.metadata.name ?? '')));
    const o = await waitFor(
      'the request to summarise what is left',
      async () => {
        const x = await c.get(Kinds.OneOffBackup, ns, 'req');
        return x.status?.phase !== 'InProgress' ? x : undefined;
      },
      20_000,
      async () => JSON.stringify((await c.get(Kinds.OneOffBackup, ns, 'req')).status),
    );
    expect(o.status?.phase).to.equal('Completed');
    expect(o.status?.message).to.contain('deleted since');
  });
  it('a scheduled integrity check finds damaged data, every Backup using it shows it, and the next backup heals it', async function () {
    if (!cluster.sandbox?.cluster) this.skip();
    this.timeout(360_000);
    const c = cluster.client;
    const { ns, claims } = await serverWithData('verify', 'vm9', 8);
    const sums = await checksums(cluster, ns, claims);
    await oneOff(c, ns, 'req', { server: { kind: 'VirtualMachine', name: 'vm9' } });
    const b = await backupOf(c, ns, 'req');
    expect(b.status?.phase, b.status?.message).to.equal('Available');
    // One flipped byte in every pack.
    expect(
      await corruptPacks(cluster, ns, { first: 4096, every: Number.MAX_SAFE_INTEGER }),
    ).to.be.greaterThan(0);
    // Every minute, reading all packs: the next slot finds it.
    await c.patch(Kinds.BackupRepository, ns, 'repo', {
      spec: { maintenance: { verifySchedule: '* * * * *', verifyReadDataPercent: 100 } },
    });
    const repo = await waitFor(
      'the check to find the damage',
      async () => {
        const r = await c.get(Kinds.BackupRepository, ns, 'repo');
        return r.status?.conditions?.find((x) => x.type === 'DataIntact')?.status === 'False' ? r : undefined;
      },
      150_000,
      async () => JSON.stringify((await c.get(Kinds.BackupRepository, ns, 'repo')).status),
    );
    expect(repo.status?.damagedManifests).to.include(b.status?.volumes?.[0]?.manifestID);
    expect(repo.status?.lastVerifyTime).to.be.a('string');
    const shown = await waitFor('the Backup to show it', async () => {
      const x = await c.get(Kinds.Backup, ns, b.metadata.name ?? '');
      return x.status?.conditions?.find((k) => k.type === 'DataIntact')?.status === 'False' ? x : undefined;
    });
    expect(shown.status?.conditions?.find((k) => k.type === 'DataIntact')?.message).to.contain(
      'found damaged blocks in volume(s) root',
    );
    expect(shown.status?.conditions?.find((k) => k.type === 'Ready')?.status).to.equal('False');

    // Backing up again heals it: the damaged blocks are written again, not deduplicated away, and the
    // old backup restores byte for byte.
    await oneOff(c, ns, 'again', { server: { kind: 'VirtualMachine', name: 'vm9' }, forceFull: true });
    const again = await backupOf(c, ns, 'again');
    expect(again.status?.phase, again.status?.message).to.equal('Available');
    expect(again.status?.totals?.uploadedBytes).to.be.greaterThan(0);
    const copy = await restoreAndWait(c, ns, 'old-copy', {
      backupRef: { name: b.metadata.name ?? '' },
      target: { mode: 'NewPVCs', pvcNamePrefix: 'old-' },
    });
    expect(copy.status?.phase, copy.status?.message).to.equal('Completed');
    expect(await checksums(cluster, ns, ['old-root'])).to.deep.equal(sums);
    // The next check finds nothing wrong, and the old Backup says so.
    await waitFor(
      'the next check to pass',
      async () =>
        (await c.get(Kinds.Backup, ns, b.metadata.name ?? '')).status?.conditions?.find(
          (k) => k.type === 'DataIntact',
        )?.status === 'True',
      150_000,
    );
    await c.patch(Kinds.BackupRepository, ns, 'repo', {
      spec: { maintenance: { verifySchedule: '0 0 1 1 *' } },
    });
  });

  it('backup names never collide: one display name twice makes two backups; 2000 requests make 2000', async function () {
    this.timeout(600_000);
    const c = cluster.client;
    const ns = await freshNamespace(c, 'names');
    await createRepository(c, ns);
    await createVM(c, ns, 'vm7', [{ name: 'root', size: '1Mi' }], { running: false });
    await repositoryReady(cluster, ns);
    for (const name of ['monthly-1', 'monthly-2'])
      await oneOff(c, ns, name, {
        server: { kind: 'VirtualMachine', name: 'vm7' },
        backupName: 'manualbk_before_upgrade',
      });
    const two = await waitFor('two Backups named manualbk_before_upgrade', async () => {
      const list = (await c.list(Kinds.Backup, ns)).items;
      return list.length === 2 ? list : undefined;
    });
    expect(two.map((b) => b.spec.backupName)).to.deep.equal([
      'manualbk_before_upgrade',
      'manualbk_before_upgrade',
    ]);
    expect(new Set(two.map((b) => b.metadata.name)).size).to.equal(2);
    for (const b of two) expect(b.metadata.name).to.match(/^manualbk-before-upgrade-[0-9a-f]{8}$/);
    for (const name of ['monthly-1', 'monthly-2'])
      await waitFor(`${name} not Failed`, async () => {
        const o = await c.get(Kinds.OneOffBackup, ns, name);
        if (o.status?.phase === 'Failed') throw new Error(String(o.status.message));
        return (o.status?.backups?.length ?? 0) === 1;
      });

    // Two thousand requests at once (the controller just names them; the backups are not run).
    await controller.stop();
    const { Manager } = await import('../../src/runtime/manager.js');
    const { OneOffBackupReconciler } = await import('../../src/controllers/oneoffbackup/reconciler.js');
    const m = new Manager({
      kubeConfig: cluster.kubeConfig,
      leaderElection: { enabled: false },
      concurrency: 8,
      namespace: ns,
    });
    m.add(new OneOffBackupReconciler(settings));
    await m.start();
    try {
      const N = 2000;
      const names = Array.from({ length: N }, (_, i) => `req-${i}`);
      for (let i = 0; i < N; i += 50)
        await Promise.all(
          names.slice(i, i + 50).map((n) =>
            oneOff(c, ns, n, {
              server: { kind: 'VirtualMachine', name: 'vm7' },
              repositoryRef: { name: 'repo' },
            }),
          ),
        );
      const all = await waitFor(
        `${N + 2} Backups`,
        async () => {
          const list = (await c.list(Kinds.Backup, ns)).items;
          return list.length >= N + 2 ? list : undefined;
        },
        300_000,
      );
      expect(new Set(all.map((b) => b.metadata.name)).size).to.equal(N + 2);
      const failed = (await c.list(Kinds.OneOffBackup, ns)).items.filter((o) => o.status?.phase === 'Failed');
      expect(failed.map((o) => o.status?.message)).to.deep.equal([]);
    } finally {
      // Last in the suite: the 2000 Backups are never run.
      await m.stop();
    }
  });
});
