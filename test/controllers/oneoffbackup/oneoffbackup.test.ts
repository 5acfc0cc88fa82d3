import { expect } from 'chai';
import {
  backupObjectNameFor,
  baseName,
  desiredBackup,
  displayNames,
  generatedBaseName,
  madeBy,
} from '../../../src/controllers/oneoffbackup/desired.js';
import { overallPhase, summary } from '../../../src/controllers/oneoffbackup/status.js';
import type { OneOffBackupResult, ServerRef } from '../../../src/api/types.js';
import { aOneOff } from '../builders.js';

const vm1: ServerRef = { kind: 'VirtualMachine', name: 'vm1' };
const vm2: ServerRef = { kind: 'VirtualMachine', name: 'vm2' };

describe('controllers/oneoffbackup', () => {
  it('generated names are manualbk_ + 4 hex, stable per uid', () => {
    const a = generatedBaseName('uid-1');
    expect(a).to.match(/^manualbk_[0-9a-f]{4}$/);
    expect(generatedBaseName('uid-1')).to.equal(a);
    expect(generatedBaseName('uid-2')).to.not.equal(a);
    expect(displayNames('manualbk_abcd', [vm1])).to.deep.equal(['manualbk_abcd']);
    expect(displayNames('manualbk_abcd', [vm1, vm2])).to.deep.equal([
      'manualbk_abcd-0001',
      'manualbk_abcd-0002',
    ]);
  });

  it('builds a Backup with lookup labels and no owner reference', () => {
    const oob = aOneOff('before-upgrade', { server: vm1, description: 'pre-upgrade', forceFull: true });
    const b = desiredBackup(oob, vm1, 'manualbk_abcd', 'repo');
    expect(b.metadata.name).to.match(/^manualbk-abcd-[0-9a-f]{8}$/);
    expect(b.metadata.name).to.equal(backupObjectNameFor(oob, vm1, 'manualbk_abcd'));
    expect(b.metadata.ownerReferences).to.equal(undefined);
    expect(b.metadata.labels).to.deep.include({
      'csbs.dev/server-kind': 'VirtualMachine',
      'csbs.dev/server-name': 'vm1',
      'csbs.dev/repository': 'repo',
      'csbs.dev/origin': 'OneOff',
      'csbs.dev/oneoffbackup': 'before-upgrade',
    });
    expect(b.spec).to.deep.equal({
      backupName: 'manualbk_abcd',
      server: vm1,
      origin: 'OneOff',
      oneOffBackupRef: { name: 'before-upgrade' },
      repositoryRef: { name: 'repo' },
      description: 'pre-upgrade',
      forceFull: true,
    });
    expect(madeBy(b, oob)).to.equal(true);
    expect(madeBy(b, aOneOff('before-upgrade', { server: vm1 }, 'other-uid'))).to.equal(false);
  });

  describe('names', () => {
    it('the base is the user name, else generated from the uid', () => {
      expect(baseName(aOneOff('req', { server: vm1, backupName: 'manualbk_release' }))).to.equal(
        'manualbk_release',
      );
      const oob = aOneOff('req', { server: vm1 }, 'uid-req');
      expect(baseName(oob)).to.equal(generatedBaseName('uid-req'));
    });
    it('object names differ per request and server even for one display name, and stay put on a retry', () => {
      const a = aOneOff('a', { server: vm1, backupName: 'manualbk_x' }, 'uid-a');
      const b = aOneOff('b', { server: vm1, backupName: 'manualbk_x' }, 'uid-b');
      const names = [
        backupObjectNameFor(a, vm1, 'manualbk_x'),
        backupObjectNameFor(b, vm1, 'manualbk_x'),
        backupObjectNameFor(a, vm2, 'manualbk_x'),
      ];
      expect(new Set(names).size).to.equal(3);
      expect(backupObjectNameFor(a, vm1, 'manualbk_x')).to.equal(names[0]);
      // The longest display name still gives a name fit for a label value.
      const long = `manualbk_${'a'.repeat(44)}`;
      expect(backupObjectNameFor(a, vm1, long).length).to.be.at.most(63);
    });
  });

  describe('status', () => {
    const r = (name: string, phase?: OneOffBackupResult['phase']): OneOffBackupResult => ({
      server: vm1,
      backupName: name.replace('-', '_'),
      name,
      ...(phase ? { phase } : {}),
    });
    const cases: [string, OneOffBackupResult[], string][] = [
      ['none yet', [], 'Pending'],
      ['one running', [r('manualbk-a', 'Available'), r('manualbk-b', 'Uploading')], 'InProgress'],
      ['one without a phase yet', [r('manualbk-a')], 'InProgress'],
      ['all available', [r('manualbk-a', 'Available'), r('manualbk-b', 'Restoring')], 'Completed'],
      ['some failed', [r('manualbk-a', 'Available'), r('manualbk-b', 'Failed')], 'PartiallyFailed'],
      ['all failed', [r('manualbk-a', 'Failed')], 'Failed'],
    ];
    for (const [name, results, want] of cases)
      it(`${name} -> ${want}`, () => expect(overallPhase(results)).to.equal(want));
    it('summaries name what failed and why', () => {
      expect(summary([r('manualbk-a', 'Failed')], new Map([['manualbk-a', 'PVC x not Bound']]))).to.equal(
        'manualbk_a (VirtualMachine vm1) failed: PVC x not Bound',
      );
      expect(summary([r('manualbk-a', 'Available')], new Map())).to.equal(
        '1 backup(s) available: manualbk_a',
      );
      expect(summary([r('manualbk-a', 'Available'), r('manualbk-b')], new Map())).to.equal(
        '1/2 backup(s) available',
      );
    });
  });
});
