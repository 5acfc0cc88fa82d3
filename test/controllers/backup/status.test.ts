import { expect } from 'chai';
import type { VolumeBackupStatus } from '../../../src/api/types.js';
import { uploadJob } from '../../../src/controllers/backup/desired.js';
import {
  combinedProgress,
  latestAvailable,
  manifestsOf,
  parentManifests,
  totalsOf,
  uploadOutcome,
} from '../../../src/controllers/backup/status.js';
import { defaultJobSettings } from '../../../src/controllers/shared/mover.js';
import { repositoryAccess } from '../../../src/controllers/shared/repository.js';
import { aBackup, aJob, aPod, aRepository } from '../builders.js';

const planned: VolumeBackupStatus[] = [
  { name: 'root', pvc: 'vm1-root', volumeMode: 'Block', sizeBytes: 16 << 20 },
  { name: 'data', pvc: 'vm1-data', volumeMode: 'Filesystem', sizeBytes: 8 << 20 },
];
function job(parent?: string) {
  return uploadJob({
    backup: { name: 'b', namespace: 'ns' },
    server: { kind: 'VirtualMachine', name: 'vm1' },
    parentBackup: parent,
    volumes: planned.map((p) => ({
      name: p.name,
      pvc: p.pvc,
      block: p.volumeMode === 'Block',
      capacity: '1',
      claimName: `t-${p.pvc}`,
      ...(parent ? { parentManifest: 'pm' } : {}),
    })),
    repo: repositoryAccess(aRepository('repo')),
    settings: defaultJobSettings('0'),
  });
}
const ok = (m: string, changed: number, uploaded: number) =>
  JSON.stringify({ manifest: m, type: 'Full', sizeBytes: 100, bytesChanged: changed, bytesNew: uploaded });
const err = (code: string, message: string, exitCode: number) =>
  JSON.stringify({ error: { code, message }, exitCode });

describe('controllers/backup/status', () => {
  const base = job();
  const [c0, c1] = (base.spec?.template.spec?.containers ?? []).map((c) => c.name);
  const cases = [
    {
      name: 'running Job',
      job: aJob('ns', 'b-upload').from(base).result(),
      pods: (j: typeof base) => [aPod(j, 'p').running(c0).running(c1).result()],
      want: { state: 'running' },
    },
    {
      name: 'complete: per-volume results and totals, Full',
      job: aJob('ns', 'b-upload').from(base).complete().result(),
      pods: (j: typeof base) => [
        aPod(j, 'p')
          .exited(c0, 0, ok('m0', 100, 40))
          .exited(c1, 0, ok('m1', 50, 10))
          .result(),
      ],
      want: {
        state: 'succeeded',
        type: 'Full',
        totals: { sizeBytes: 200, changedBytes: 150, uploadedBytes: 50, size: '200', uploaded: '50' },
        manifests: ['m0', 'm1'],
      },
    },
    {
      name: 'complete with a parent: Incremental against it',
      job: aJob('ns', 'b-upload').from(job('parent-bk')).complete().result(),
      pods: (j: typeof base) => [
        aPod(j, 'p')
          .exited(c0, 0, ok('m0', 4096, 1000))
          .exited(c1, 0, ok('m1', 0, 0))
          .result(),
      ],
      want: {
        state: 'succeeded',
        type: 'Incremental',
        parentBackup: 'parent-bk',
        totals: { sizeBytes: 200, changedBytes: 4096, uploadedBytes: 1000, size: '200', uploaded: '1000' },
        manifests: ['m0', 'm1'],
      },
    },
    {
      name: 'failed: names the volume, the step and what the mover said',
      job: aJob('ns', 'b-upload').from(base).failed('PodFailurePolicy', 'container exited 3').result(),
      pods: (j: typeof base) => [
        aPod(j, 'p')
          .exited(c0, 0, ok('m0', 1, 1))
          .exited(c1, 3, err('WrongKey', 'the repository key does not open this repository', 3))
          .result(),
      ],
      want: {
        state: 'failed',
        reason: 'WrongKey',
        message:
          'volume data (PVC vm1-data): upload failed, mover exited 3 (wrong repository key): the repository key does not open this repository',
      },
    },
    {
      name: 'pod killed: exit 137 without a result line',
      job: aJob('ns', 'b-upload').from(base).failed().result(),
      pods: (j: typeof base) => [
        aPod(j, 'p')
          .exited(c0, 137, undefined, 'Error')
          .exited(c1, 0, ok('m1', 1, 1))
          .result(),
      ],
      want: {
        state: 'failed',
        reason: 'UploadFailed',
        message:
          'volume root (PVC vm1-root): upload failed, mover exited 137 (killed (SIGKILL, e.g. out of memory)): killed (SIGKILL, e.g. out of memory) (Error)',
      },
    },
    {
      name: 'deadline exceeded with movers still running',
      job: aJob('ns', 'b-upload')
        .from(base)
        .failed('DeadlineExceeded', 'Job was active longer than specified deadline')
        .result(),
      pods: () => [],
      want: {
        state: 'failed',
        reason: 'DeadlineExceeded',
        message: 'upload Job exceeded its deadline (21600s): Job was active longer than specified deadline',
      },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = uploadOutcome(c.job, c.pods(c.job), planned);
      expect(got.state).to.equal(c.want.state);
      if (got.state === 'succeeded' && c.want.state === 'succeeded') {
        expect(got.type).to.equal(c.want.type);
        expect(got.parentBackup).to.equal((c.want as { parentBackup?: string }).parentBackup);
        expect(got.totals).to.deep.equal(c.want.totals);
        expect(got.volumes.map((v) => v.manifestID)).to.deep.equal(c.want.manifests);
        expect(got.volumes[0]).to.include({ name: 'root', pvc: 'vm1-root', volumeMode: 'Block' });
      }
      if (got.state === 'failed') {
        expect(got.reason).to.equal(c.want.reason);
        expect(got.message).to.equal(c.want.message);
      }
    });
  }

  it('changed bytes come from new blocks x block size when the mover gives no byte count', () => {
    const j = aJob('ns', 'b-upload').from(base).complete().result();
    const summary = (m: string, blocksNew: number) =>
      JSON.stringify({ manifest: m, sizeBytes: 100000, blocksNew, bytesNew: 10 });
    const got = uploadOutcome(
      j,
      [aPod(j, 'p').exited(c0, 0, summary('m0', 3)).exited(c1, 0, summary('m1', 1000)).result()],
      planned,
      4096,
    );
    expect(got.state === 'succeeded' && got.volumes.map((v) => v.changedBytes)).to.deep.equal([
      12288, 100000,
    ]);
  });

  it('progress sums the movers and never exceeds 100%', () => {
    expect(
      combinedProgress([{ bytesDone: 50, bytesTotal: 100 }, undefined, { bytesDone: 150, bytesTotal: 100 }]),
    ).to.deep.equal({ percent: 100, bytesDone: 200, bytesTotal: 200 });
    expect(combinedProgress([{ bytesDone: 25, bytesTotal: 100 }], 400)).to.deep.equal({
      percent: 6,
      bytesDone: 25,
      bytesTotal: 400,
    });
    expect(combinedProgress([])).to.deep.equal({ percent: 0, bytesDone: 0, bytesTotal: 0 });
  });

  it('the parent is the latest Available backup of the same server and repository', () => {
    const self = aBackup('ns', 'manualbk-new').result();
    const candidates = [
      aBackup('ns', 'manualbk-old')
        .phase('Available')
        .completed('2026-01-01T01:00:00Z')
        .volume({ name: 'root', manifestID: 'm-old' })
        .result(),
      aBackup('ns', 'manualbk-mid')
        .phase('Available')
        .completed('2026-01-01T02:00:00Z')
        .volume({ name: 'root', manifestID: 'm-mid' })
        .result(),
      aBackup('ns', 'manualbk-failed').phase('Failed').completed('2026-01-01T03:00:00Z').result(),
      aBackup('ns', 'manualbk-other-vm')
        .server('VirtualMachine', 'vm2')
        .phase('Available')
        .completed('2026-01-01T04:00:00Z')
        .result(),
      aBackup('ns', 'manualbk-other-repo')
        .repository('repo2')
        .phase('Available')
        .completed('2026-01-01T05:00:00Z')
        .result(),
      aBackup('ns', 'manualbk-deleting')
        .phase('Available')
        .completed('2026-01-01T06:00:00Z')
        .deleting()
        .result(),
      self,
    ];
    const parent = latestAvailable(candidates, self);
    expect(parent?.metadata.name).to.equal('manualbk-mid');
    expect(parentManifests(parent).get('pvc:root')).to.equal('m-mid');
    expect(latestAvailable([self], self)).to.equal(undefined);
    // A backup whose data a check found damaged is never a parent: the next one reads every block.
    const damaged = structuredClone(parent!);
    damaged.status!.conditions = [
      {
        type: 'DataIntact',
        status: 'False',
        reason: 'CorruptData',
        message: 'damaged',
        lastTransitionTime: '2026-01-01T07:00:00Z',
      },
    ];
    expect(latestAvailable([candidates[0], damaged, self], self)?.metadata.name).to.equal(
      candidates[0].metadata.name,
    );
    expect(manifestsOf(candidates[0])).to.deep.equal(['m-old']);
    expect(totalsOf([])).to.deep.equal({
      sizeBytes: 0,
      changedBytes: 0,
      uploadedBytes: 0,
      size: '0',
      uploaded: '0',
    });
  });
});
