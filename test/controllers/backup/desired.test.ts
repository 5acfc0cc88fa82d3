import { expect } from 'chai';
import {
  ANNOTATION_PARENT,
  containerVolumes,
  deleteJob,
  idempotencyKey,
  desiredSnapshots,
  snapshotName,
  temporaryPVC,
  uploadJob,
  uploadJobName,
  volumeOfSnapshot,
  type SourceVolume,
} from '../../../src/controllers/backup/desired.js';
import { defaultJobSettings } from '../../../src/controllers/shared/mover.js';
import { repositoryAccess } from '../../../src/controllers/shared/repository.js';
import { aRepository } from '../builders.js';

const bk = { name: 'manualbk-1a2b', namespace: 'ns', uid: 'uid-1a2b' };
const settings = defaultJobSettings('0.1.0');
const repo = repositoryAccess(aRepository('repo'));
const blockVol: SourceVolume = {
  name: 'rootdisk',
  pvc: 'vm1-root',
  block: true,
  capacity: '16Mi',
  storageClassName: 'fast',
};
const fsVol: SourceVolume = { name: 'datadisk', pvc: 'vm1-data', block: false, capacity: '8Mi' };

describe('controllers/backup/desired', () => {
  it('one VolumeSnapshot per volume, labelled, recording the volume for later steps', () => {
    const snaps = desiredSnapshots(bk, [blockVol, fsVol], 'csi-class');
    expect(snaps.map((s) => s.metadata?.name)).to.deep.equal([
      'manualbk-1a2b-vm1-root',
      'manualbk-1a2b-vm1-data',
    ]);
    expect(snaps[0].metadata?.labels).to.deep.equal({
      'csbs.dev/backup': 'manualbk-1a2b',
      'app.kubernetes.io/managed-by': 'csbs-operator',
    });
    expect(snaps[0].spec).to.deep.equal({
      source: { persistentVolumeClaimName: 'vm1-root' },
      volumeSnapshotClassName: 'csi-class',
    });
    // Round trip: the snapshot alone says what it is of.
    expect(volumeOfSnapshot(snaps[0])).to.deep.equal(blockVol);
    expect(volumeOfSnapshot(snaps[1])).to.deep.equal(fsVol);
    // Deterministic: the same inputs give the same names (a retried create is AlreadyExists).
    expect(desiredSnapshots(bk, [blockVol, fsVol])).to.have.length(2);
    expect(snapshotName(bk.name, 'vm1-root')).to.equal(snaps[0].metadata?.name);
  });

  it('temporary PVCs come from the snapshot in the source mode, class and size', () => {
    const [snap] = desiredSnapshots(bk, [blockVol]);
    snap.status = { readyToUse: true, restoreSize: '16Mi' };
    const pvc = temporaryPVC(bk, snap);
    expect(pvc.metadata?.name).to.equal(snap.metadata?.name);
    expect(pvc.metadata?.labels?.['csbs.dev/backup']).to.equal(bk.name);
    expect(pvc.spec).to.deep.include({ volumeMode: 'Block', storageClassName: 'fast' });
    expect(pvc.spec?.resources?.requests?.storage).to.equal('16Mi');
    expect(pvc.spec?.dataSource).to.deep.equal({
      apiGroup: 'snapshot.storage.k8s.io',
      kind: 'VolumeSnapshot',
      name: snap.metadata?.name,
    });
  });

  const jobCases = [
    {
      name: 'full backup: no --parent, no parent annotation',
      volumes: [{ ...blockVol, claimName: 'tmp-root' }],
      parent: undefined,
      wantParent: [undefined],
    },
    {
      name: 'incremental: --parent per volume from the parent backup',
      volumes: [
        { ...blockVol, claimName: 'tmp-root', parentManifest: 'm-root' },
        { ...fsVol, claimName: 'tmp-data', parentManifest: 'm-data' },
      ],
      parent: 'manualbk-0000',
      wantParent: ['m-root', 'm-data'],
    },
  ];
  for (const c of jobCases) {
    it(`upload Job, ${c.name}`, () => {
      const job = uploadJob({
        backup: bk,
        server: { kind: 'VirtualMachine', name: 'vm1' },
        parentBackup: c.parent,
        volumes: c.volumes,
        repo,
        settings,
      });
      expect(job.metadata?.name).to.equal(uploadJobName(bk.name));
      expect(job.metadata?.labels?.['csbs.dev/backup']).to.equal(bk.name);
      expect(job.metadata?.annotations?.[ANNOTATION_PARENT]).to.equal(c.parent);
      const containers = job.spec?.template.spec?.containers ?? [];
      expect(containers).to.have.length(c.volumes.length);
      containers.forEach((ctr, i) => {
        const cmd = ctr.command ?? [];
        expect(cmd.slice(0, 3)).to.deep.equal(['csbs', 'mover', 'backup']);
        expect(cmd).to.include.members([
          '--repo',
          '/repository/csbs',
          '--summary-file',
          '/dev/termination-log',
        ]);
        const keyAt = cmd.indexOf('--idempotency-key');
        expect(cmd[keyAt + 1]).to.equal(`${bk.uid}/${c.volumes[i].name}`);
        expect(idempotencyKey(bk.uid, 'v'.repeat(253)).length).to.be.at.most(253);
        const parentAt = cmd.indexOf('--parent');
        expect(parentAt >= 0 ? cmd[parentAt + 1] : undefined).to.equal(c.wantParent[i]);
        expect(ctr.terminationMessagePath).to.equal('/dev/termination-log');
        expect(ctr.resources?.limits?.memory).to.equal('512Mi');
        expect(ctr.securityContext?.allowPrivilegeEscalation).to.equal(false);
      });
      // Block sources are devices, filesystem sources the disk.img inside a read-only mount.
      const src = (i: number) =>
        (containers[i].command ?? [])[(containers[i].command ?? []).indexOf('--source') + 1];
      expect(src(0)).to.equal('/dev/csbs/v0');
      expect(containers[0].volumeDevices).to.deep.equal([{ name: 'v0', devicePath: '/dev/csbs/v0' }]);
      if (c.volumes.length > 1) {
        expect(src(1)).to.equal('/volumes/v1/disk.img');
        expect(containers[1].volumeMounts?.find((m) => m.name === 'v1')).to.deep.equal({
          name: 'v1',
          mountPath: '/volumes/v1',
          readOnly: true,
        });
      }
      // Non-root; the device group only where a source is a raw block device.
      const security = job.spec?.template.spec?.securityContext;
      expect(security).to.include({ runAsNonRoot: true, runAsUser: 65532 });
      expect(security?.supplementalGroups).to.deep.equal([6], 'the disk group for the Block volume');
      const vols = job.spec?.template.spec?.volumes ?? [];
      expect(vols[0]).to.deep.equal({ name: 'repository', persistentVolumeClaim: { claimName: 'repo-pvc' } });
      expect(vols.slice(1).map((v) => v.persistentVolumeClaim?.claimName)).to.deep.equal(
        c.volumes.map((v) => v.claimName),
      );
      expect([...containerVolumes(job).values()].map((v) => v.pvc)).to.deep.equal(
        c.volumes.map((v) => v.pvc),
      );
    });
  }

  it('an upload Job of Filesystem volumes only joins no device group', () => {
    const job = uploadJob({
      backup: bk,
      server: { kind: 'VirtualMachine', name: 'vm1' },
      parentBackup: undefined,
      volumes: [{ ...fsVol, claimName: 'tmp-data' }],
      repo,
      settings,
    });
    expect(job.spec?.template.spec?.securityContext).to.include({ runAsNonRoot: true, runAsUser: 65532 });
    expect(job.spec?.template.spec?.securityContext?.supplementalGroups).to.equal(undefined);
  });

  it('delete Job lists every manifest and runs non-root, for a filesystem and an S3 repository', () => {
    const job = deleteJob({ backup: bk, manifests: ['m1', 'm2'], repo, settings });
    expect(job.metadata?.name).to.equal('manualbk-1a2b-delete');
    const cmd = job.spec?.template.spec?.containers[0].command ?? [];
    expect(cmd).to.deep.equal([
      'csbs',
      'mover',
      'delete',
      '--repo',
      '/repository/csbs',
      '--manifest',
      'm1',
      '--manifest',
      'm2',
    ]);
    expect(job.spec?.template.spec?.securityContext).to.include({ runAsNonRoot: true, runAsUser: 65532 });
    expect(job.spec?.template.spec?.securityContext?.supplementalGroups).to.equal(undefined);
    const s3 = deleteJob({
      backup: bk,
      manifests: ['m1'],
      repo: repositoryAccess(aRepository('repo', 's3')),
      settings,
    });
    expect(s3.spec?.template.spec?.securityContext?.runAsNonRoot).to.equal(true);
  });
});
