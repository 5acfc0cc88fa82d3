/**
 * Pieces every mover Job shares (docs/design.md, "Contract: backup Jobs"): how a container reaches the
 * repository (args, env from Secrets, the repository PVC), the image, the security context and the
 * resources. Pure: the reconcilers turn a BackupRepository into a {@link RepositoryAccess} and hand it
 * to the Job builders of each kind.
 */
import type {
  V1Container,
  V1EnvVar,
  V1Job,
  V1PodSecurityContext,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';
import { LABEL_MANAGED_BY, MANAGED_BY } from '../../api/labels.js';

/** Where the mover finds the repository and its key, independent of the CRD's field names. */
export interface RepositoryAccess {
  /** Filesystem backend: the PVC holding the repository and the directory inside it. */
  filesystem?: { claimName: string; path?: string };
  /** S3 backend. Credentials come from the Secret's `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` keys. */
  s3?: {
    endpoint?: string;
    bucket: string;
    prefix?: string;
    region?: string;
    forcePathStyle?: boolean;
    credentialsSecret?: string;
  };
  /** Secret and key holding the repository key. */
  keySecret: { name: string; key: string };
}

/** Settings of the controller process that shape every Job (image, account, limits). */
export interface JobSettings {
  image: string;
  serviceAccountName: string;
  /** Retries of a failed pod before the Job fails (the mover resumes, reusing uploaded blocks). */
  backoffLimit: number;
  /** Hard limit on a Job's run time; the Job fails with DeadlineExceeded after it. */
  activeDeadlineSeconds: number;
  /**
   * Group that owns raw block devices in pods (CSI device nodes are usually root:disk 0660); Jobs
   * that open a Block volume join it. Default 6, `disk`.
   */
  blockDeviceGroup: number;
}

/** Defaults for {@link JobSettings}: `csbs-mover` account, two retries, six hours. */
export function defaultJobSettings(version: string): JobSettings {
  return {
    image: `ghcr.io/csbs-dev/csbs-operator:${version}`,
    serviceAccountName: 'csbs-mover',
    backoffLimit: 2,
    activeDeadlineSeconds: 6 * 3600,
    blockDeviceGroup: DISK_GROUP,
  };
}

/** Mount point of the repository PVC in mover pods. */
export const REPOSITORY_MOUNT = '/repository';
/** Where containers write their result; the kubelet copies it into the container's terminated state. */
export const TERMINATION_MESSAGE_PATH = '/dev/termination-log';
const REPOSITORY_VOLUME = 'repository';
/**
 * The label selector of everything the controllers create (Jobs and their Pods, VolumeSnapshots,
 * PVCs): their informers cache only these, not every Pod or PVC in the cluster.
 */
export const MANAGED_SELECTOR = `${LABEL_MANAGED_BY}=${MANAGED_BY}`;
/** UID/GID of the non-root user in our image. */
export const NONROOT_ID = 65532;
/** GID of `disk`, the usual group of block device nodes. */
export const DISK_GROUP = 6;

/** `--repo ...` arguments for a mover command. */
export function repositoryArgs(repo: RepositoryAccess): string[] {
  if (repo.filesystem) {
    const sub = (repo.filesystem.path ?? '').replace(/^\/+|\/+$/g, '');
    return ['--repo', sub ? `${REPOSITORY_MOUNT}/${sub}` : REPOSITORY_MOUNT];
  }
  const s3 = repo.s3;
  if (!s3) throw new Error('repository has neither a filesystem nor an s3 backend');
  const prefix = (s3.prefix ?? '').replace(/^\/+|\/+$/g, '');
  const args = ['--repo', `s3://${s3.bucket}${prefix ? `/${prefix}` : ''}`];
  if (s3.endpoint) args.push('--s3-endpoint', s3.endpoint);
  if (s3.region) args.push('--s3-region', s3.region);
  if (s3.forcePathStyle) args.push('--s3-force-path-style');
  return args;
}

/** Environment with the repository key and S3 credentials, always by Secret reference (never by value). */
export function repositoryEnv(repo: RepositoryAccess): V1EnvVar[] {
  const env: V1EnvVar[] = [
    {
      name: 'CSBS_REPOSITORY_KEY',
      valueFrom: { secretKeyRef: { name: repo.keySecret.name, key: repo.keySecret.key } },
    },
  ];
  const creds = repo.s3?.credentialsSecret;
  if (creds) {
    for (const key of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'])
      env.push({ name: key, valueFrom: { secretKeyRef: { name: creds, key } } });
  }
  return env;
}

/** The pod volume for a filesystem repository (none for S3). */
export function repositoryVolumes(repo: RepositoryAccess): V1Volume[] {
  if (!repo.filesystem) return [];
  return [{ name: REPOSITORY_VOLUME, persistentVolumeClaim: { claimName: repo.filesystem.claimName } }];
}

/** The container mount for a filesystem repository (none for S3). */
export function repositoryMounts(repo: RepositoryAccess): V1VolumeMount[] {
  return repo.filesystem ? [{ name: REPOSITORY_VOLUME, mountPath: REPOSITORY_MOUNT }] : [];
}

/**
 * Pod security of every mover Job: the image's non-root UID, no capabilities, the runtime's seccomp
 * profile. The repository's files all belong to that UID. fsGroup makes a filesystem repository's PVC
 * writable for it where the storage honours fsGroup, and hands it a repository written by root Jobs of
 * earlier versions (only when the volume's root does not match yet, so a large repository is not walked
 * on every mount); storage that ignores fsGroup needs the PVC owned by the UID. The kubelet never
 * changes the owner of a raw block device, so a Job
 * that opens Block volumes also joins `blockDeviceGroup` (runtimes configured with
 * `device_ownership_from_security_context` give the device to the pod's UID instead).
 */
export function podSecurity(blockDeviceGroup?: number): V1PodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: NONROOT_ID,
    runAsGroup: NONROOT_ID,
    fsGroup: NONROOT_ID,
    fsGroupChangePolicy: 'OnRootMismatch',
    ...(blockDeviceGroup !== undefined ? { supplementalGroups: [blockDeviceGroup] } : {}),
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** One mover container: the command, the repository env, hardened, with bounded resources. */
export function moverContainer(
  name: string,
  command: string[],
  repo: RepositoryAccess,
  settings: JobSettings,
  extra: Pick<V1Container, 'volumeMounts' | 'volumeDevices'> & { env?: V1EnvVar[] } = {},
): V1Container {
  return {
    name,
    image: settings.image,
    imagePullPolicy: 'IfNotPresent',
    command,
    env: [...repositoryEnv(repo), ...(extra.env ?? [])],
    volumeMounts: [...repositoryMounts(repo), ...(extra.volumeMounts ?? [])],
    ...(extra.volumeDevices?.length ? { volumeDevices: extra.volumeDevices } : {}),
    terminationMessagePath: TERMINATION_MESSAGE_PATH,
    terminationMessagePolicy: 'File',
    // The mover keeps a fixed number of blocks in flight (< 256 MiB RSS whatever the volume size).
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } },
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    },
  };
}

/** Mover exit codes after which retrying the pod cannot help (usage, wrong key, not found, corrupt, too small). */
export const PERMANENT_EXIT_CODES = [2, 3, 4, 5, 6];

/** A Job around mover containers, with the retry, deadline and labels every mover Job carries. */
export function moverJob(args: {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  containers: V1Container[];
  volumes: V1Volume[];
  /** Whether the containers open raw block devices (Block volumes). */
  blockDevices: boolean;
  settings: JobSettings;
}): V1Job {
  const labels = { ...args.labels, [LABEL_MANAGED_BY]: MANAGED_BY };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: args.name,
      namespace: args.namespace,
      labels,
      ...(args.annotations ? { annotations: args.annotations } : {}),
    },
    spec: {
      backoffLimit: args.settings.backoffLimit,
      activeDeadlineSeconds: args.settings.activeDeadlineSeconds,
      // Retrying cannot fix a wrong key or corrupt data: fail at once and say so.
      podFailurePolicy: {
        rules: [{ action: 'FailJob', onExitCodes: { operator: 'In', values: PERMANENT_EXIT_CODES } }],
      },
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          serviceAccountName: args.settings.serviceAccountName,
          automountServiceAccountToken: false,
          securityContext: podSecurity(args.blockDevices ? args.settings.blockDeviceGroup : undefined),
          containers: args.containers,
          volumes: args.volumes,
        },
      },
    },
  };
}
