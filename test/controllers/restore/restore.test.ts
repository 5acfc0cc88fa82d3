import { expect } from 'chai';
import {
  haltPatch,
  leaveHaltedPatch,
  newPVC,
  plannedVolumes,
  restoreJob,
  startPatch,
} from '../../../src/controllers/restore/desired.js';
import { restoreOutcome } from '../../../src/controllers/restore/status.js';
import { defaultJobSettings } from '../../../src/controllers/shared/mover.js';
import { repositoryAccess } from '../../../src/controllers/shared/repository.js';
import { aBackup, aJob, aPod, aRepository, aRestore } from '../builders.js';

const backup = aBackup('ns', 'manualbk-1a2b')
  .phase('Available')
  .volume({
    name: 'root',
    pvc: 'vm1-root',
    volumeMode: 'Block',
    sizeBytes: 16 << 20,
    manifestID: 'm-root',
    storageClassName: 'fast',
  })
  .volume({
    name: 'data',
    pvc: 'vm1-data',
    volumeMode: 'Filesystem',
    sizeBytes: 8 << 20,
    manifestID: 'm-data',
  })
  .result();

describe('controllers/restore', () => {
  const cases = [
    { name: 'in place, all volumes', spec: {}, want: { claims: ['vm1-root', 'vm1-data'] } },
    { name: 'in place, a subset', spec: { volumes: ['data'] }, want: { claims: ['vm1-data'] } },
    {
      name: 'new PVCs with a prefix',
      spec: { target: { mode: 'NewPVCs' as const, pvcNamePrefix: 'copy-' } },
      want: { claims: ['copy-root', 'copy-data'] },
    },
    {
      name: 'unknown volume',
      spec: { volumes: ['nope'] },
      want: { error: 'spec.volumes names nope, not in Backup manualbk-1a2b (it has root, data)' },
    },
    {
      name: 'new PVCs without prefix',
      spec: { target: { mode: 'NewPVCs' as const } },
      want: { error: 'spec.target.pvcNamePrefix is required when spec.target.mode is NewPVCs' },
    },
  ];
  for (const c of cases)
    it(`plans ${c.name}`, () => {
      const got = plannedVolumes(aRestore('r', { backupRef: { name: 'manualbk-1a2b' }, ...c.spec }), backup);
      if ('error' in c.want) expect(got).to.deep.equal({ error: c.want.error });
      else expect('volumes' in got && got.volumes.map((v) => v.claimName)).to.deep.equal(c.want.claims);
    });

  it('restore Job writes only changed blocks in place, one container per volume', () => {
    const r = aRestore('r', { backupRef: { name: 'manualbk-1a2b' } });
    const plan = plannedVolumes(r, backup);
    if (!('volumes' in plan)) throw new Error('plan');
    const job = restoreJob({
      restore: { name: 'r', namespace: 'ns' },
      volumes: plan.volumes,
      onlyChanged: true,
      repo: repositoryAccess(aRepository('repo')),
      settings: defaultJobSettings('0'),
    });
    expect(job.metadata?.name).to.equal('r-restore');
    expect(job.metadata?.labels?.['csbs.dev/restore']).to.equal('r');
    const [c0, c1] = job.spec?.template.spec?.containers ?? [];
    expect(c0.command).to.deep.equal([
      'csbs',
      'mover',
      'restore',
      '--repo',
      '/repository/csbs',
      '--manifest',
      'm-root',
      '--target',
      '/dev/csbs/v0',
      '--only-changed',
      '--summary-file',
      '/dev/termination-log',
    ]);
    expect(c1.command).to.include('/volumes/v1/disk.img');
    expect(c1.volumeMounts?.find((m) => m.name === 'v1')?.readOnly).to.equal(undefined);
  });

  it('new PVCs keep the backed-up size and mode, with the requested class', () => {
    const r = aRestore('r', {
      backupRef: { name: 'manualbk-1a2b' },
      target: { mode: 'NewPVCs', pvcNamePrefix: 'copy-', storageClassName: 'slow' },
    });
    const plan = plannedVolumes(r, backup);
    if (!('volumes' in plan)) throw new Error('plan');
    const pvc = newPVC(r, plan.volumes[0]);
    expect(pvc.metadata?.name).to.equal('copy-root');
    expect(pvc.spec).to.deep.include({
      volumeMode: 'Block',
      storageClassName: 'slow',
      accessModes: ['ReadWriteOnce'],
    });
    expect(pvc.spec?.resources?.requests?.storage).to.equal(String(16 << 20));
  });

  it('halts a VM remembering its strategy, and puts it back', () => {
    const vm = { metadata: { name: 'vm1' }, spec: { running: true } };
    const halt = haltPatch(vm, 'r');
    expect(halt).to.deep.equal({
      metadata: {
        annotations: { 'csbs.dev/original-run-strategy': 'Always', 'csbs.dev/restore-in-progress': 'r' },
      },
      spec: { runStrategy: 'Halted', running: null },
    });
    // Halting again (after a restart) keeps the first recorded strategy.
    const halted = {
      metadata: { name: 'vm1', annotations: { 'csbs.dev/original-run-strategy': 'RerunOnFailure' } },
      spec: { runStrategy: 'Halted' },
    };
    expect(
      (haltPatch(halted, 'r').metadata as { annotations: Record<string, string> }).annotations[
        'csbs.dev/original-run-strategy'
      ],
    ).to.equal('RerunOnFailure');
    expect(startPatch(halted)).to.deep.equal({
      metadata: {
        annotations: {
          'csbs.dev/original-run-strategy': null,
          'csbs.dev/restore-in-progress': null,
          'csbs.dev/halted-generation': null,
        },
      },
      spec: { runStrategy: 'RerunOnFailure' },
    });
    expect(leaveHaltedPatch()).to.deep.equal({
      metadata: { annotations: { 'csbs.dev/restore-in-progress': null, 'csbs.dev/halted-generation': null } },
    });
  });

  it('reads outcomes: corrupt data names block and offset', () => {
    const r = aRestore('r', { backupRef: { name: 'manualbk-1a2b' } });
    const plan = plannedVolumes(r, backup);
    if (!('volumes' in plan)) throw new Error('plan');
    const base = restoreJob({
      restore: { name: 'r', namespace: 'ns' },
      volumes: plan.volumes,
      onlyChanged: true,
      repo: repositoryAccess(aRepository('repo')),
      settings: defaultJobSettings('0'),
    });
    const [c0, c1] = (base.spec?.template.spec?.containers ?? []).map((c) => c.name);
    const done = aJob('ns', 'r-restore').from(base).complete().result();
    const ok = restoreOutcome(done, [
      aPod(done, 'p').exited(c0, 0, '{"bytesWritten":4096}').exited(c1, 0, '{"bytesWritten":0}').result(),
    ]);
    expect(ok).to.deep.equal({
      state: 'succeeded',
      volumes: [
        { name: 'root', pvc: 'vm1-root', restoredBytes: 4096 },
        { name: 'data', pvc: 'vm1-data', restoredBytes: 0 },
      ],
    });
    const failed = aJob('ns', 'r-restore').from(base).failed().result();
    const bad = restoreOutcome(failed, [
      aPod(failed, 'p')
        .exited(
          c0,
          5,
          '{"error":{"code":"CorruptData","message":"block 3f2a... at offset 65536 fails authentication"},"exitCode":5}',
        )
        .exited(c1, 0, '{"bytesWritten":0}')
        .result(),
    ]);
    expect(bad.state).to.equal('failed');
    if (bad.state === 'failed') {
      expect(bad.reason).to.equal('CorruptData');
      expect(bad.message).to.equal(
        'volume root (PVC vm1-root): restore failed, mover exited 5 (corrupt data found): block 3f2a... at offset 65536 fails authentication',
      );
    }
    expect(restoreOutcome(aJob('ns', 'r-restore').from(base).result(), []).state).to.equal('running');
    // Exit 6 is a target too small or one the mover may not write: the summary's code tells which.
    const reasonOf = (code: string) => {
      const o = restoreOutcome(failed, [
        aPod(failed, 'p')
          .exited(c0, 6, `{"error":{"code":"${code}","message":"cannot use target"},"exitCode":6}`)
          .exited(c1, 0, '{"bytesWritten":0}')
          .result(),
      ]);
      return o.state === 'failed' ? o.reason : o.state;
    };
    expect(reasonOf('TargetUnwritable')).to.equal('TargetUnwritable');
    expect(reasonOf('TargetTooSmall')).to.equal('TargetTooSmall');
  });
});
