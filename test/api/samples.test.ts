import { expect } from 'chai';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { KINDS, SCHEMAS, type Kind } from '../../src/api/index.js';
import { readDocuments, validateObject } from '../../src/cli/validate.js';
import { admit } from '../../src/schema/index.js';
import { packageRoot } from '../../src/version.js';

const dir = join(packageRoot, 'config', 'samples');
const samples = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .flatMap((f) =>
    readDocuments(join(dir, f)).map((d) => ({
      file: f,
      value: d.value as { kind: Kind; metadata: { name: string; namespace?: string } },
    })),
  );

/** The sample of `kind` named `name`, admitted as the API server would store it. */
function stored(kind: Kind, name: string): Record<string, unknown> {
  const s = samples.find((x) => x.value.kind === kind && x.value.metadata.name === name);
  expect(s, `${kind}/${name} sample`).to.exist;
  return admit(SCHEMAS[kind], s!.value).object;
}

describe('config/samples', () => {
  it('has a sample of every kind, none with a namespace', () => {
    expect(new Set(samples.map((s) => s.value.kind))).to.deep.equal(new Set(KINDS));
    for (const s of samples) expect(s.value.metadata.namespace, s.file).to.equal(undefined);
  });

  for (const s of samples) {
    it(`${s.file} is valid`, () => {
      const r = validateObject(s.value);
      expect(r.errors.map((e) => e.message)).to.deep.equal([]);
      expect(r.valid).to.equal(true);
    });
  }

  it('gets the defaults the API server applies', () => {
    expect(stored('BackupRepository', 'default').spec).to.deep.equal({
      backend: { filesystem: { persistentVolumeClaim: { claimName: 'backup-repository' }, path: '/csbs' } },
      encryption: { keySecretRef: { name: 'csbs-repository-key', key: 'repository-key' } },
      compression: 'zstd',
      blockSize: 65536,
      maintenance: { gcSchedule: '0 3 * * *', verifySchedule: '30 4 * * 0', verifyReadDataPercent: 10 },
    });
    expect(stored('BackupRepository', 'offsite').spec).to.deep.include({
      blockSize: 65536,
      compression: 'zstd',
    });
    expect((stored('BackupRepository', 'offsite').spec as { backend: unknown }).backend).to.deep.equal({
      s3: {
        endpoint: 'http://minio.minio.svc:9000',
        bucket: 'csbs-backups',
        prefix: 'cluster-a',
        forcePathStyle: true,
        credentialsSecretRef: { name: 'minio-credentials' },
        region: 'us-east-1',
      },
    });
    expect(stored('BackupPolicy', 'twice-daily').spec).to.deep.include({
      enabled: true,
      maxParallelBackups: 4,
      fullBackupEvery: 30,
    });
    expect(stored('OneOffBackup', 'before-upgrade').spec).to.deep.include({ forceFull: false });
    expect(stored('Backup', 'manualbk-1a2b').spec).to.deep.include({ forceFull: false });
    expect(stored('Restore', 'web-1-rollback').spec).to.deep.equal({
      backupRef: { name: 'manualbk-1a2b' },
      target: { mode: 'InPlace' },
      powerOnAfterRestore: true,
    });
    expect(stored('ServerBinding', 'production').spec).to.have.keys('policyRef', 'servers', 'selector');
  });

  it('defaults the time zone to UTC', () => {
    const policy = samples.find((x) => x.value.kind === 'BackupPolicy')!.value as unknown as {
      spec: { schedule: Record<string, unknown> };
    };
    const copy = structuredClone(policy);
    delete copy.spec.schedule.timeZone;
    const spec = admit(SCHEMAS.BackupPolicy, copy).object.spec as { schedule: { timeZone: string } };
    expect(spec.schedule.timeZone).to.equal('UTC');
  });
});
