/** Small fluent builders of the objects controller tests feed to pure functions (Velero's builder style). */
import type { V1ContainerStatus, V1Job, V1Pod } from '@kubernetes/client-node';
import type {
  Backup,
  BackupRepository,
  OneOffBackup,
  Restore,
  VolumeBackupStatus,
} from '../../src/api/types.js';
import type { VolumeSnapshot } from '../../src/controllers/shared/thirdparty.js';

/** Builds a Backup. */
export class BackupBuilder {
  private b: Backup;
  constructor(namespace: string, name: string) {
    this.b = {
      apiVersion: 'csbs.dev/v1alpha1',
      kind: 'Backup',
      metadata: {
        namespace,
        name,
        uid: `uid-${name}`,
        generation: 1,
        creationTimestamp: '2026-01-01T00:00:00Z' as unknown as Date,
      },
      spec: {
        backupName: name.replace(/^manualbk-/, 'manualbk_'),
        server: { kind: 'VirtualMachine', name: 'vm1' },
        origin: 'OneOff',
        repositoryRef: { name: 'repo' },
      },
      status: {},
    };
  }
  server(kind: 'VirtualMachine' | 'PVCGroup', name: string): this {
    this.b.spec.server = { kind, name };
    return this;
  }
  repository(name: string): this {
    this.b.spec.repositoryRef = { name };
    return this;
  }
  phase(phase: NonNullable<Backup['status']>['phase']): this {
    this.b.status = { ...this.b.status, phase };
    return this;
  }
  completed(at: string): this {
    this.b.status = { ...this.b.status, completionTime: at };
    return this;
  }
  volume(v: Partial<VolumeBackupStatus> & { name: string }): this {
    this.b.status = { ...this.b.status, volumes: [...(this.b.status?.volumes ?? []), { pvc: v.name, ...v }] };
    return this;
  }
  deleting(): this {
    this.b.metadata.deletionTimestamp = '2026-01-02T00:00:00Z' as unknown as Date;
    return this;
  }
  result(): Backup {
    return structuredClone(this.b);
  }
}
export const aBackup = (ns: string, name: string) => new BackupBuilder(ns, name);

/** Builds a Job with conditions. */
export class JobBuilder {
  private j: V1Job;
  constructor(namespace: string, name: string) {
    this.j = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { namespace, name, uid: `uid-${name}` },
      spec: { template: { spec: { containers: [] } } },
      status: {},
    };
  }
  from(job: V1Job): this {
    this.j = structuredClone(job);
    this.j.metadata = { ...this.j.metadata, uid: `uid-${job.metadata?.name}` };
    return this;
  }
  complete(): this {
    this.j.status = { conditions: [{ type: 'Complete', status: 'True' }] };
    return this;
  }
  failed(reason = 'BackoffLimitExceeded', message = 'Job has reached the specified backoff limit'): this {
    this.j.status = { conditions: [{ type: 'Failed', status: 'True', reason, message }] };
    return this;
  }
  result(): V1Job {
    return structuredClone(this.j);
  }
}
export const aJob = (ns: string, name: string) => new JobBuilder(ns, name);

/** Builds a pod of a Job with container states. */
export class PodBuilder {
  private p: V1Pod;
  constructor(job: V1Job, name: string, created = '2026-01-01T00:00:00Z') {
    this.p = {
      metadata: {
        name,
        namespace: job.metadata?.namespace,
        creationTimestamp: created as unknown as Date,
        labels: { 'job-name': job.metadata?.name ?? '' },
        ownerReferences: [
          {
            apiVersion: 'batch/v1',
            kind: 'Job',
            name: job.metadata?.name ?? '',
            uid: job.metadata?.uid ?? '',
          },
        ],
      },
      status: { phase: 'Running', containerStatuses: [] },
    };
  }
  private add(cs: V1ContainerStatus): this {
    this.p.status?.containerStatuses?.push(cs);
    return this;
  }
  running(container: string): this {
    return this.add({
      name: container,
      image: 'x',
      imageID: '',
      ready: true,
      restartCount: 0,
      state: { running: {} },
    });
  }
  exited(
    container: string,
    exitCode: number,
    message?: string,
    reason = exitCode ? 'Error' : 'Completed',
  ): this {
    return this.add({
      name: container,
      image: 'x',
      imageID: '',
      ready: false,
      restartCount: 0,
      state: { terminated: { exitCode, reason, ...(message !== undefined ? { message } : {}) } },
    });
  }
  result(): V1Pod {
    return structuredClone(this.p);
  }
}
export const aPod = (job: V1Job, name: string, created?: string) => new PodBuilder(job, name, created);

/** A BackupRepository on a filesystem PVC or S3. */
export function aRepository(name: string, backend: 'filesystem' | 's3' = 'filesystem'): BackupRepository {
  return {
    apiVersion: 'csbs.dev/v1alpha1',
    kind: 'BackupRepository',
    metadata: { namespace: 'ns', name, generation: 2 },
    spec: {
      backend:
        backend === 'filesystem'
          ? { filesystem: { persistentVolumeClaim: { claimName: 'repo-pvc' }, path: '/csbs' } }
          : {
              s3: {
                endpoint: 'http://127.0.0.1:9000',
                bucket: 'b',
                prefix: 'p/',
                region: 'eu',
                forcePathStyle: true,
                credentialsSecretRef: { name: 's3creds' },
              },
            },
      encryption: { keySecretRef: { name: 'repo-key' } },
      blockSize: 16384,
      compression: 'lz4',
    },
  };
}

/** A OneOffBackup. */
export function aOneOff(name: string, spec: OneOffBackup['spec'], uid = `uid-${name}`): OneOffBackup {
  return {
    apiVersion: 'csbs.dev/v1alpha1',
    kind: 'OneOffBackup',
    metadata: { namespace: 'ns', name, uid, generation: 1 },
    spec,
  };
}

/** A Restore. */
export function aRestore(name: string, spec: Restore['spec']): Restore {
  return {
    apiVersion: 'csbs.dev/v1alpha1',
    kind: 'Restore',
    metadata: { namespace: 'ns', name, generation: 1 },
    spec,
  };
}

/** A VolumeSnapshot with a status. */
export function aSnapshot(
  name: string,
  pvc: string,
  status: VolumeSnapshot['status'] = {},
  annotations: Record<string, string> = {},
): VolumeSnapshot {
  return {
    metadata: { name, namespace: 'ns', annotations },
    spec: { source: { persistentVolumeClaimName: pvc } },
    status,
  };
}
