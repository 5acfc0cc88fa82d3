/** Turning a BackupRepository into what mover containers need, and telling whether it is usable. */
import { RepositoryPhase } from '../../api/conditions.js';
import { DEFAULT_KEY_SECRET_KEY } from '../../api/defaults.js';
import type { BackupRepository } from '../../api/types.js';
import type { RepositoryAccess } from './mover.js';

/** How mover Jobs reach `repo` (its backend and key Secret). */
export function repositoryAccess(repo: BackupRepository): RepositoryAccess {
  const b = repo.spec.backend;
  const keySecret = {
    name: repo.spec.encryption.keySecretRef.name,
    key: repo.spec.encryption.keySecretRef.key ?? DEFAULT_KEY_SECRET_KEY,
  };
  if (b.filesystem) {
    return {
      filesystem: {
        claimName: b.filesystem.persistentVolumeClaim.claimName,
        ...(b.filesystem.path ? { path: b.filesystem.path } : {}),
      },
      keySecret,
    };
  }
  if (!b.s3) throw new Error(`BackupRepository ${repo.metadata.name}: spec.backend needs filesystem or s3`);
  return {
    s3: {
      endpoint: b.s3.endpoint,
      bucket: b.s3.bucket,
      ...(b.s3.prefix ? { prefix: b.s3.prefix } : {}),
      ...(b.s3.region ? { region: b.s3.region } : {}),
      ...(b.s3.forcePathStyle ? { forcePathStyle: true } : {}),
      credentialsSecret: b.s3.credentialsSecretRef.name,
    },
    keySecret,
  };
}

/** Whether a repository can take backups now: `ready`, still `pending`, or `failed` with its message. */
export function repositoryReadiness(repo: BackupRepository): {
  state: 'ready' | 'pending' | 'failed';
  message: string;
} {
  const phase = repo.status?.phase;
  if (phase === RepositoryPhase.Ready) return { state: 'ready', message: '' };
  if (phase === RepositoryPhase.Failed)
    return {
      state: 'failed',
      message: `BackupRepository ${repo.metadata.name} is Failed: ${repo.status?.message ?? 'see its conditions'}`,
    };
  return { state: 'pending', message: `waiting for BackupRepository ${repo.metadata.name} to become Ready` };
}
