import { expect } from 'chai';
import { childName, dnsLabelish, labelValue } from '../../../src/controllers/shared/names.js';
import {
  defaultJobSettings,
  moverJob,
  podSecurity,
  repositoryArgs,
  repositoryEnv,
  repositoryMounts,
  repositoryVolumes,
} from '../../../src/controllers/shared/mover.js';
import {
  containerOutcome,
  exitMeaning,
  lastProgress,
  outcomesByContainer,
  parseResultLine,
} from '../../../src/controllers/shared/mover-output.js';
import { humanBytes, quantityBytes } from '../../../src/api/quantity.js';
import { selectorString } from '../../../src/controllers/shared/selector.js';
import { repositoryAccess, repositoryReadiness } from '../../../src/controllers/shared/repository.js';
import { serverLockName } from '../../../src/controllers/shared/serverlock.js';
import { jobState, podsOfJob } from '../../../src/controllers/shared/jobs.js';
import { defaultSettings } from '../../../src/controllers/shared/settings.js';
import { aJob, aPod, aRepository } from '../builders.js';

describe('controllers/shared', () => {
  describe('names', () => {
    const cases: [string, string, string][] = [
      ['manualbk-1a2b', 'upload', 'manualbk-1a2b-upload'],
      ['manualbk-1a2b', 'Disk_0', 'manualbk-1a2b-disk-0'],
      ['a'.repeat(80), 'upload', ''],
    ];
    for (const [parent, suffix, want] of cases) {
      it(`childName(${parent.slice(0, 20)}, ${suffix}) is a DNS label${want ? ` = ${want}` : ''}`, () => {
        const got = childName(parent, suffix);
        expect(got).to.match(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
        expect(got.length).to.be.at.most(63);
        if (want) expect(got).to.equal(want);
        else expect(got.endsWith('-upload')).to.equal(true);
      });
    }
    it('keeps long names of different parents apart and is stable', () => {
      const a = childName('x'.repeat(70) + 'a', 'upload');
      const b = childName('x'.repeat(70) + 'b', 'upload');
      expect(a).to.not.equal(b);
      expect(childName('x'.repeat(70) + 'a', 'upload')).to.equal(a);
    });
    it('labelValue cuts long values with a hash and dnsLabelish cleans', () => {
      expect(labelValue('short')).to.equal('short');
      expect(labelValue('y'.repeat(100)).length).to.be.at.most(63);
      expect(dnsLabelish('--A__b--')).to.equal('a-b');
      expect(serverLockName({ kind: 'VirtualMachine', name: 'vm1' })).to.equal(
        'csbs-lock-virtualmachine-vm1',
      );
    });
  });

  describe('repository access', () => {
    const cases = [
      {
        name: 'filesystem with path',
        repo: aRepository('r', 'filesystem'),
        args: ['--repo', '/repository/csbs'],
        env: ['CSBS_REPOSITORY_KEY'],
        volumes: 1,
      },
      {
        name: 's3 with endpoint, region, path style, credentials',
        repo: aRepository('r', 's3'),
        args: [
          '--repo',
          's3://b/p',
          '--s3-endpoint',
          'http://127.0.0.1:9000',
          '--s3-region',
          'eu',
          '--s3-force-path-style',
        ],
        env: ['CSBS_REPOSITORY_KEY', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'],
        volumes: 0,
      },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const access = repositoryAccess(c.repo);
        expect(repositoryArgs(access)).to.deep.equal(c.args);
        const env = repositoryEnv(access);
        expect(env.map((e) => e.name)).to.deep.equal(c.env);
        // Secrets only by reference, never by value.
        expect(env.every((e) => e.value === undefined && e.valueFrom?.secretKeyRef)).to.equal(true);
        expect(env[0].valueFrom?.secretKeyRef).to.deep.equal({ name: 'repo-key', key: 'repository-key' });
        expect(repositoryVolumes(access)).to.have.length(c.volumes);
        expect(repositoryMounts(access)).to.have.length(c.volumes);
      });
    }
    it('readiness follows the repository phase', () => {
      const r = aRepository('r');
      expect(repositoryReadiness(r).state).to.equal('pending');
      r.status = { phase: 'Ready' };
      expect(repositoryReadiness(r).state).to.equal('ready');
      r.status = { phase: 'Failed', message: 'wrong key' };
      expect(repositoryReadiness(r)).to.deep.equal({
        state: 'failed',
        message: 'BackupRepository r is Failed: wrong key',
      });
    });
  });

  describe('mover Jobs', () => {
    it('carry account, retry, deadline, failure policy, labels and a hardened pod', () => {
      const settings = defaultJobSettings('1.2.3');
      const job = moverJob({
        name: 'j',
        namespace: 'ns',
        labels: { a: 'b' },
        containers: [],
        volumes: [],
        blockDevices: false,
        settings,
      });
      expect(settings.image).to.equal('ghcr.io/csbs-dev/csbs-operator:1.2.3');
      expect(job.metadata?.labels).to.deep.equal({ a: 'b', 'app.kubernetes.io/managed-by': 'csbs-operator' });
      expect(job.spec?.backoffLimit).to.equal(2);
      expect(job.spec?.activeDeadlineSeconds).to.equal(21600);
      expect(job.spec?.podFailurePolicy?.rules[0].onExitCodes?.values).to.deep.equal([2, 3, 4, 5, 6]);
      const pod = job.spec?.template.spec;
      expect(pod?.serviceAccountName).to.equal('csbs-mover');
      expect(pod?.restartPolicy).to.equal('Never');
      expect(pod?.automountServiceAccountToken).to.equal(false);
      expect(pod?.securityContext?.runAsNonRoot).to.equal(true);
      expect(job.spec?.template.metadata?.labels?.a).to.equal('b');
    });
    it('always run as the non-root user; Jobs on raw block devices also join the device group', () => {
      const plain = podSecurity();
      expect(plain).to.include({
        runAsNonRoot: true,
        runAsUser: 65532,
        runAsGroup: 65532,
        fsGroup: 65532,
        fsGroupChangePolicy: 'OnRootMismatch',
      });
      expect(plain.supplementalGroups).to.equal(undefined);
      expect(podSecurity(6)).to.deep.equal({ ...plain, supplementalGroups: [6] });
      expect(defaultJobSettings('1').blockDeviceGroup).to.equal(6);
    });
    it('take the device group from CSBS_BLOCK_DEVICE_GROUP, rejecting anything but a GID', () => {
      expect(defaultSettings('1', { CSBS_BLOCK_DEVICE_GROUP: '993' }).jobs.blockDeviceGroup).to.equal(993);
      for (const bad of ['disk', '-1', '6.5', ''])
        expect(() => defaultSettings('1', { CSBS_BLOCK_DEVICE_GROUP: bad })).to.throw(
          /CSBS_BLOCK_DEVICE_GROUP=.* is not a group id: set it to the numeric GID/,
        );
    });
  });

  describe('mover output', () => {
    it('finds the last progress line among other output', () => {
      const log = [
        'starting',
        '{"phase":"read","bytesDone":10,"bytesTotal":100}',
        'noise {',
        '{"phase":"read","bytesDone":60,"bytesTotal":100}',
        '{"manifest":"m1"}',
        '',
      ].join('\n');
      expect(lastProgress(log)).to.deep.equal({ phase: 'read', bytesDone: 60, bytesTotal: 100 });
      expect(lastProgress('nothing here')).to.equal(undefined);
    });
    const results: [string, string | undefined, object][] = [
      [
        'summary',
        '{"manifest":"m1","type":"Full","bytesNew":5}',
        { summary: { manifest: 'm1', type: 'Full', bytesNew: 5 } },
      ],
      [
        'error',
        '{"error":{"code":"WrongKey","message":"bad key"},"exitCode":3}',
        { error: { code: 'WrongKey', message: 'bad key', exitCode: 3 } },
      ],
      ['empty', undefined, {}],
      ['garbage', 'panic: oops', {}],
    ];
    for (const [name, msg, want] of results)
      it(`parses a ${name} result line`, () => expect(parseResultLine(msg)).to.deep.equal(want));

    it('turns container states into outcomes', () => {
      const job = aJob('ns', 'j').result();
      const pod = aPod(job, 'p')
        .exited('ok', 0, '{"manifest":"m"}')
        .exited('bad', 3, '{"error":{"code":"WrongKey","message":"wrong key"},"exitCode":3}')
        .exited('killed', 137, undefined, 'OOMKilled')
        .exited('silent', 0, '')
        .running('busy')
        .result();
      const o = outcomesByContainer([pod]);
      expect(o.get('ok')).to.deep.equal({ state: 'succeeded', summary: { manifest: 'm' } });
      expect(o.get('bad')).to.include({ state: 'failed', exitCode: 3 });
      const killed = o.get('killed');
      expect(killed?.state === 'failed' && killed.error.message).to.contain('killed (SIGKILL');
      expect(o.get('silent')).to.deep.include({ state: 'failed', exitCode: 1 });
      expect(o.get('busy')).to.deep.equal({ state: 'running' });
      expect(containerOutcome(undefined)).to.deep.equal({ state: 'running' });
      expect(exitMeaning(5)).to.equal('corrupt data found');
    });
    it('prefers a success from any attempt, else the newest pod', () => {
      const job = aJob('ns', 'j').result();
      const old = aPod(job, 'p1', '2026-01-01T00:00:00Z')
        .exited('a', 0, '{"manifest":"ma"}')
        .exited('b', 7, '{"error":{"code":"Storage","message":"s3 down"},"exitCode":7}')
        .result();
      const now = aPod(job, 'p2', '2026-01-01T00:01:00Z').exited('a', 1).running('b').result();
      const o = outcomesByContainer([now, old]);
      expect(o.get('a')).to.deep.equal({ state: 'succeeded', summary: { manifest: 'ma' } });
      expect(o.get('b')).to.deep.equal({ state: 'running' });
    });
  });

  describe('jobs', () => {
    it('reads Job conditions and finds its pods', () => {
      expect(jobState(aJob('ns', 'j').result())).to.deep.equal({ state: 'running' });
      expect(jobState(aJob('ns', 'j').complete().result())).to.deep.equal({ state: 'complete' });
      expect(jobState(aJob('ns', 'j').failed('DeadlineExceeded', 'too slow').result())).to.deep.equal({
        state: 'failed',
        reason: 'DeadlineExceeded',
        message: 'too slow',
      });
      const j = aJob('ns', 'j').result();
      const other = aJob('ns', 'k').result();
      expect(
        podsOfJob(j, [aPod(j, 'a').result(), aPod(other, 'b').result()]).map((p) => p.metadata?.name),
      ).to.deep.equal(['a']);
    });
  });

  describe('quantities and selectors', () => {
    const q: [string | number | undefined, number | undefined][] = [
      ['16Mi', 16777216],
      ['1Gi', 1073741824],
      ['2G', 2e9],
      ['1536', 1536],
      [42, 42],
      ['1.5Ki', 1536],
      ['bad', undefined],
      [undefined, undefined],
    ];
    for (const [input, want] of q)
      it(`quantityBytes(${String(input)}) = ${String(want)}`, () =>
        expect(quantityBytes(input)).to.equal(want));
    it('shows byte counts for people with a binary suffix and three significant digits', () => {
      const shown = [0, 1023, 1024, 1536, 25206017, 100663296, 1080380897, 1023.9 * 1024, 5 * 2 ** 50].map(
        humanBytes,
      );
      expect(shown).to.deep.equal(['0', '1023', '1Ki', '1.5Ki', '24Mi', '96Mi', '1.01Gi', '1Mi', '5Pi']);
    });
    it('renders label selectors', () => {
      expect(
        selectorString({
          matchLabels: { app: 'web' },
          matchExpressions: [
            { key: 'tier', operator: 'In', values: ['a', 'b'] },
            { key: 'x', operator: 'NotIn', values: ['c'] },
            { key: 'y', operator: 'Exists' },
            { key: 'z', operator: 'DoesNotExist' },
          ],
        }),
      ).to.equal('app=web,tier in (a,b),x notin (c),y,!z');
      expect(selectorString(undefined)).to.equal('');
    });
  });
});
