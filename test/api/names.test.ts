import { expect } from 'chai';
import {
  backupNameForServer,
  backupObjectName,
  generateBackupName,
  isBackupName,
  pvcGroupSelector,
  serverKey,
  volumesOfPVCGroup,
  volumesOfVirtualMachine,
} from '../../src/api/index.js';

describe('api: backup names', () => {
  it('generates prefix + 4 lowercase hex characters', () => {
    expect(generateBackupName('manualbk_', () => Uint8Array.of(0x1a, 0x2b))).to.equal('manualbk_1a2b');
    expect(generateBackupName('autobk_', () => Uint8Array.of(0, 0xff))).to.equal('autobk_00ff');
    for (let i = 0; i < 50; i++) expect(generateBackupName('manualbk_')).to.match(/^manualbk_[0-9a-f]{4}$/);
  });

  it('numbers the backups of several servers from -0001', () => {
    expect(backupNameForServer('manualbk_1a2b', 0, 1)).to.equal('manualbk_1a2b');
    expect(backupNameForServer('manualbk_1a2b', 0, 3)).to.equal('manualbk_1a2b-0001');
    expect(backupNameForServer('manualbk_1a2b', 11, 12)).to.equal('manualbk_1a2b-0012');
  });

  it('turns display names into DNS-1123 object names', () => {
    expect(backupObjectName('manualbk_1a2b')).to.equal('manualbk-1a2b');
    expect(backupObjectName('autobk_00ff-0002')).to.equal('autobk-00ff-0002');
    expect(backupObjectName('manualbk_before_upgrade')).to.equal('manualbk-before-upgrade');
  });

  it('recognises valid display names', () => {
    expect(isBackupName('manualbk_1a2b', 'manualbk_')).to.equal(true);
    expect(isBackupName('autobk_1a2b', 'manualbk_')).to.equal(false);
    expect(isBackupName('backup_1a2b')).to.equal(false);
    expect(isBackupName('manualbk_Upper')).to.equal(false);
    expect(isBackupName('manualbk_trailing-')).to.equal(false);
    expect(isBackupName(`manualbk_${'a'.repeat(60)}`)).to.equal(false);
  });
});

describe('api: server resolution', () => {
  it('takes PVC and DataVolume volumes of a VirtualMachine, in order, skipping the rest', () => {
    const vm = {
      spec: {
        template: {
          spec: {
            volumes: [
              { name: 'root', dataVolume: { name: 'vm1-root' } },
              { name: 'cloudinit', cloudInitNoCloud: { userData: '' } },
              { name: 'data', persistentVolumeClaim: { claimName: 'vm1-data' } },
            ],
          },
        },
      },
    };
    expect(volumesOfVirtualMachine(vm)).to.deep.equal([
      { name: 'root', claimName: 'vm1-root', source: 'dataVolume' },
      { name: 'data', claimName: 'vm1-data', source: 'persistentVolumeClaim' },
    ]);
    expect(volumesOfVirtualMachine({})).to.deep.equal([]);
  });

  it('orders a PVC group by name and selects it by label', () => {
    expect(pvcGroupSelector('db')).to.equal('csbs.dev/server=db');
    expect(volumesOfPVCGroup([{ metadata: { name: 'b' } }, { metadata: { name: 'a' } }, {}])).to.deep.equal([
      { name: 'a', claimName: 'a', source: 'pvc' },
      { name: 'b', claimName: 'b', source: 'pvc' },
    ]);
    expect(serverKey({ kind: 'PVCGroup', name: 'db' })).to.equal('PVCGroup/db');
  });
});
