import { expect } from 'chai';
import {
  checkJob,
  checkJobName,
  gcJob,
  gcJobName,
  gcSlots,
  liveManifests,
  slotStamp,
  verifyJob,
  verifyJobName,
} from '../../../src/controllers/backuprepository/desired.js';
import {
  maintenanceFailure,
  storedBytesOf,
  verifyResult,
} from '../../../src/controllers/backuprepository/status.js';
import { defaultJobSettings } from '../../../src/controllers/shared/mover.js';
import { repositoryAccess } from '../../../src/controllers/shared/repository.js';
import { aJob, aPod, aRepository } from '../builders.js';

const settings = defaultJobSettings('0');

describe('controllers/backuprepository', () => {
  it('the check Job initializes if missing, proving the key opens an existing repository', () => {
    const repo = aRepository('repo');
    const job = checkJob(repo, repositoryAccess(repo), settings);
    expect(job.metadata?.name).to.equal(checkJobName('repo', 2)).and.to.equal('repo-check-g2');
    expect(job.metadata?.labels?.['csbs.dev/repository-job']).to.equal('repo');
    const [c] = job.spec?.template.spec?.containers ?? [];
    expect(c.command).to.deep.equal([
      'csbs',
      'mover',
      'init',
      '--repo',
      '/repository/csbs',
      '--block-size',
      '16384',
      '--compression',
      'lz4',
      '--if-missing',
      '--summary-file',
      '/dev/termination-log',
    ]);
    expect(c.terminationMessagePolicy).to.equal('FallbackToLogsOnError');
    expect(job.spec?.backoffLimit).to.equal(1);
  });

  it('gc Jobs are named after their scheduled slot', () => {
    const repo = aRepository('repo', 's3');
    const slot = new Date('2026-03-04T03:00:00Z');
    const job = gcJob(repo, repositoryAccess(repo), settings, slot);
    expect(job.metadata?.name).to.equal(gcJobName('repo', slot)).and.to.equal('repo-gc-202603040300');
    expect(job.spec?.template.spec?.containers[0].command?.slice(0, 3)).to.deep.equal([
      'csbs',
      'mover',
      'gc',
    ]);
    expect(job.spec?.template.spec?.volumes).to.deep.equal([]);
    expect(slotStamp(slot)).to.equal('202603040300');
  });

  it('gc with the live list drops unreferenced manifests after a grace; the list sits in an owned ConfigMap', () => {
    const repo = aRepository('repo', 's3');
    repo.metadata.uid = 'uid-repo';
    const live = liveManifests(repo, ['m2', 'm1', 'm2', ''])!;
    expect(live.metadata?.name).to.equal('repo-gc-live');
    expect(live.data).to.deep.equal({ 'live-manifests': 'm1\nm2\n' });
    expect(live.metadata?.ownerReferences?.[0]).to.include({ kind: 'BackupRepository', uid: 'uid-repo' });
    // None live is said explicitly, not by an empty file.
    expect(liveManifests(repo, [])?.data).to.deep.equal({ 'live-manifests': '[]\n' });
    const job = gcJob(repo, repositoryAccess(repo), settings, new Date('2026-03-04T03:00:00Z'), live);
    const [c] = job.spec?.template.spec?.containers ?? [];
    const at = c.command?.indexOf('--live-manifests') ?? -1;
    expect(c.command?.slice(at, at + 4)).to.deep.equal([
      '--live-manifests',
      '/etc/csbs/gc/live-manifests',
      '--orphan-grace',
      '24h',
    ]);
    expect(job.spec?.template.spec?.volumes).to.deep.equal([
      { name: 'live', configMap: { name: 'repo-gc-live' } },
    ]);
    expect(job.metadata?.ownerReferences?.[0]?.name).to.equal('repo');
  });

  it('verify Jobs read the configured share of packs; exit 5 is a finding naming the manifests', () => {
    const repo = aRepository('repo', 's3');
    repo.spec.maintenance = { verifyReadDataPercent: 25 };
    const slot = new Date('2026-03-08T04:30:00Z');
    const job = verifyJob(repo, repositoryAccess(repo), settings, slot);
    expect(job.metadata?.name).to.equal(verifyJobName('repo', slot)).and.to.equal('repo-verify-202603080430');
    expect(job.spec?.template.spec?.containers[0].command).to.include('--read-data=0.25');
    const exited = (code: number, message: string) => aPod(job, 'p').exited('verify', code, message).result();
    expect(verifyResult([], true)).to.deep.equal({ state: 'intact' });
    const found = verifyResult(
      [
        exited(
          5,
          JSON.stringify({
            damagedManifests: ['b', 'a'],
            error: { code: 'Corrupt', message: 'verify found 1 bad block(s)' },
            exitCode: 5,
          }),
        ),
      ],
      false,
    );
    expect(found).to.deep.equal({
      state: 'damaged',
      manifests: ['a', 'b'],
      message: 'verify found 1 bad block(s)',
    });
    const fallback = verifyResult(
      [
        exited(
          5,
          JSON.stringify({ bad: [{ uses: [{ manifest: 'c', offset: 0 }] }], error: { message: 'x' } }),
        ),
      ],
      false,
    );
    expect(fallback).to.deep.include({ state: 'damaged', manifests: ['c'] });
    expect(
      verifyResult([exited(3, JSON.stringify({ error: { message: 'wrong key' } }))], false).state,
    ).to.equal('error');
  });

  const slotCases: [string | undefined, string, string, string][] = [
    [undefined, '2026-03-04T10:00:00Z', '2026-03-04T03:00:00.000Z', '2026-03-05T03:00:00.000Z'],
    ['0 3 * * *', '2026-03-04T03:00:00Z', '2026-03-04T03:00:00.000Z', '2026-03-05T03:00:00.000Z'],
    ['*/15 * * * *', '2026-03-04T10:07:00Z', '2026-03-04T10:00:00.000Z', '2026-03-04T10:15:00.000Z'],
  ];
  for (const [cron, now, last, next] of slotCases)
    it(`gc slots of ${cron ?? 'the default'} at ${now}`, () => {
      const s = gcSlots(cron, new Date(now));
      expect(s.last.toISOString()).to.equal(last);
      expect(s.next.toISOString()).to.equal(next);
    });

  it('reads stats and maintenance failures', () => {
    expect(storedBytesOf('{"storedBytes":1234,"manifests":3}')).to.equal(1234);
    expect(storedBytesOf('not json')).to.equal(undefined);
    const job = aJob('ns', 'repo-check-g1').result();
    const pod = aPod(job, 'p').result();
    pod.status = {
      initContainerStatuses: [
        {
          name: 'init',
          image: 'x',
          imageID: '',
          ready: false,
          restartCount: 0,
          state: {
            terminated: {
              exitCode: 3,
              message: 'line1\n{"error":{"code":"WrongKey","message":"wrong repository key"},"exitCode":3}',
            },
          },
        },
      ],
    };
    expect(maintenanceFailure([pod])).to.equal(
      'mover init exited 3 (wrong repository key): wrong repository key',
    );
    expect(maintenanceFailure([aPod(job, 'q').exited('stats', 0, '{}').result()])).to.equal(undefined);
  });
});
