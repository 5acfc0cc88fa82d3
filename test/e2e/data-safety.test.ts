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
  checksums,
  createRepository,
  createVM,
  fillRandom,
  freshNamespace,
  oneOff,
  openCluster,
  restoreAndWait,
  scribble,
  testSettings,
  waitFor,
} from './harness.js';

async function repositoryReady(cluster: Cluster, ns: string, name = 'repo') {
  return waitFor(`BackupRepository ${name} Ready`, async () => {
    const r = await cluster.client.get(Kinds.BackupRepository, ns, name);
    return r.status?.phase === 'Ready' ? r : undefined;
  });
}

function restoreObject(ns: string, name: string, spec: Restore['spec']): Restore {
  return { apiVersion: 'csbs.dev/v1alpha1', kind: 'Restore', metadata: { name, namespace: ns }, spec };
}

describe('e2e: data safety', function () {
  this.timeout(240_000);
  let cluster: Cluster;
  let controller: Controller;
  const settings = testSettings();
  settings.backupWaitMs = 6_000;

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
    const secret = await c.get(Kinds.Secret, ns, 'repo-key');
    await c.patch(Kinds.Secret, ns, 'repo-key', {
      data: { 'repository-key': Buffer.from('wrong').toString('base64') },
    });
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
    await c.patch(Kinds.Secret, ns, 'repo-key', { data: secret.data });
  });

  it('an in-place restore fails loudly when the VM is started under it, and leaves it halted', async function () {
    if (!cluster.sandbox?.cluster) this.skip();
    const c = cluster.client;
    const ns = await freshNamespace(c, 'started');
    await createRepository(c, ns);
    const claims = await createVM(c, ns, 'vm1', [{ name: 'root', size: '32Mi' }]);
    await repositoryReady(cluster, ns);
    await fillRandom(cluster, ns, claims, 32);
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
    const ns = await freshNamespace(c, 'gitops');
    await createRepository(c, ns);
    const claims = await createVM(c, ns, 'vm2', [{ name: 'root', size: '8Mi' }]);
    await repositoryReady(cluster, ns);
    await fillRandom(cluster, ns, claims, 8);
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
    const ns = await freshNamespace(c, 'message');
    await createRepository(c, ns);
    const claims = await createVM(c, ns, 'vm3', [{ name: 'root', size: '8Mi' }]);
    await repositoryReady(cluster, ns);
    await fillRandom(cluster, ns, claims, 8);
    await oneOff(c, ns, 'req', { server: { kind: 'VirtualMachine', name: 'vm3' } });
    const b = await backupOf(c, ns, 'req');
    const before = b.status?.message;
    expect(before).to.match(/^Full backup of 1 volume\(s\): \d+ bytes uploaded$/);
    // A restore that fails (the key is wrong by now) after the Backup showed it as its reader.
    await c.patch(Kinds.Secret, ns, 'repo-key', {
      data: { 'repository-key': Buffer.from('wrong').toString('base64') },
    });
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
});
