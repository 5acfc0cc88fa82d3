/**
 * Pure builders of what a Backup needs in the cluster: one VolumeSnapshot per volume, one temporary PVC
 * per snapshot, the upload Job (one mover container per volume) and the Job that deletes the Backup's
 * manifests. Names are deterministic, so a retried create is an AlreadyExists, and each child records
 * (in labels and annotations) everything needed to rebuild the next step after a controller restart.
 */
import type { V1Container, V1Job, V1PersistentVolumeClaim, V1Volume } from '@kubernetes/client-node';
import { LABEL_BACKUP, LABEL_MANAGED_BY, MANAGED_BY } from '../../api/labels.js';
import { childName, dnsLabelish, labelValue, shortHash } from '../shared/names.js';
import {
  type JobSettings,
  type RepositoryAccess,
  TERMINATION_MESSAGE_PATH,
  moverContainer,
  moverJob,
  repositoryArgs,
  repositoryVolumes,
} from '../shared/mover.js';
import { SNAPSHOT_GROUP, SNAPSHOT_VERSION, type VolumeSnapshot } from '../shared/thirdparty.js';

/** One volume of the server being backed up, as resolved from its PVC. */
export interface SourceVolume {
  /** The server's name for the volume: the VM's volume (disk) name, or the PVC name for a PVC group. */
  name: string;
  pvc: string;
  block: boolean;
  storageClassName?: string;
  /** The PVC's capacity as a quantity (`16Mi`). */
  capacity: string;
}

/** Annotations a snapshot carries so that the rest of the backup can be planned from it alone. */
export const ANNOTATION_VOLUME = 'csbs.dev/volume';
export const ANNOTATION_VOLUME_MODE = 'csbs.dev/volume-mode';
export const ANNOTATION_STORAGE_CLASS = 'csbs.dev/storage-class';
export const ANNOTATION_CAPACITY = 'csbs.dev/capacity';
/** On the upload Job: the parent Backup's name (absent for a full backup). */
export const ANNOTATION_PARENT = 'csbs.dev/parent';
/** Env var naming the source PVC in each mover container, so results map back to volumes. */
export const ENV_SOURCE_PVC = 'CSBS_SOURCE_PVC';
/** Env var naming the server's volume in each mover container. */
export const ENV_VOLUME = 'CSBS_VOLUME';

/** Labels of every child of a Backup. */
export function backupChildLabels(backup: string): Record<string, string> {
  return { [LABEL_BACKUP]: labelValue(backup), [LABEL_MANAGED_BY]: MANAGED_BY };
}

/** Name of the VolumeSnapshot (and of the temporary PVC made from it) of one PVC. */
export function snapshotName(backup: string, pvc: string): string {
  return childName(backup, pvc);
}

/** Name of the upload Job. */
export function uploadJobName(backup: string): string {
  return childName(backup, 'upload');
}

/** Name of the Job that removes the Backup's manifests. */
export function deleteJobName(backup: string): string {
  return childName(backup, 'delete');
}

/** The VolumeSnapshots of a backup, one per volume, all created in one step (the same instant). */
export function desiredSnapshots(
  backup: { name: string; namespace: string },
  volumes: SourceVolume[],
  snapshotClassName?: string,
): VolumeSnapshot[] {
  return volumes.map((v) => ({
    apiVersion: `${SNAPSHOT_GROUP}/${SNAPSHOT_VERSION}`,
    kind: 'VolumeSnapshot',
    metadata: {
      name: snapshotName(backup.name, v.pvc),
      namespace: backup.namespace,
      labels: backupChildLabels(backup.name),
      annotations: {
        [ANNOTATION_VOLUME]: v.name,
        [ANNOTATION_VOLUME_MODE]: v.block ? 'Block' : 'Filesystem',
        [ANNOTATION_CAPACITY]: v.capacity,
        ...(v.storageClassName ? { [ANNOTATION_STORAGE_CLASS]: v.storageClassName } : {}),
      },
    },
    spec: {
      source: { persistentVolumeClaimName: v.pvc },
      ...(snapshotClassName ? { volumeSnapshotClassName: snapshotClassName } : {}),
    },
  }));
}

/** The source volume a snapshot was taken of, read back from its annotations. */
export function volumeOfSnapshot(snap: VolumeSnapshot): SourceVolume {
  const a = snap.metadata?.annotations ?? {};
  const pvc = snap.spec.source.persistentVolumeClaimName ?? '';
  return {
    name: a[ANNOTATION_VOLUME] ?? pvc,
    pvc,
    block: a[ANNOTATION_VOLUME_MODE] === 'Block',
    // restoreSize is a quantity; some snapshotters write a plain byte count.
    capacity: String(snap.status?.restoreSize ?? a[ANNOTATION_CAPACITY] ?? '1Gi'),
    ...(a[ANNOTATION_STORAGE_CLASS] ? { storageClassName: a[ANNOTATION_STORAGE_CLASS] } : {}),
  };
}

/** The temporary PVC provisioned from a snapshot: same mode and class as the source, read by the mover. */
export function temporaryPVC(
  backup: { name: string; namespace: string },
  snap: VolumeSnapshot,
): V1PersistentVolumeClaim {
  const v = volumeOfSnapshot(snap);
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: {
      name: snap.metadata?.name ?? snapshotName(backup.name, v.pvc),
      namespace: backup.namespace,
      labels: backupChildLabels(backup.name),
      annotations: { ...(snap.metadata?.annotations ?? {}) },
    },
    spec: {
      accessModes: ['ReadWriteOnce'],
      volumeMode: v.block ? 'Block' : 'Filesystem',
      resources: { requests: { storage: v.capacity } },
      dataSource: { apiGroup: SNAPSHOT_GROUP, kind: 'VolumeSnapshot', name: snap.metadata?.name ?? '' },
      ...(v.storageClassName ? { storageClassName: v.storageClassName } : {}),
    },
  };
}

/** One volume of the upload Job. */
export interface UploadVolume extends SourceVolume {
  /** The temporary PVC made from the volume's snapshot. */
  claimName: string;
  /** Manifest of the same volume in the parent backup, for an incremental backup. */
  parentManifest?: string;
}

/** Container name for the i-th volume: unique by index, readable by PVC name. */
export function volumeContainerName(i: number, pvc: string): string {
  return dnsLabelish(`v${i}-${pvc}`).slice(0, 63).replace(/-$/, '');
}

/** Where the mover sees volume i: a device path (block) or a mount with the VM disk image at its root. */
export function volumePaths(i: number, block: boolean): { dir: string; file: string } {
  if (block) return { dir: `/dev/csbs/v${i}`, file: `/dev/csbs/v${i}` };
  return { dir: `/volumes/v${i}`, file: `/volumes/v${i}/disk.img` };
}

/** The mover's idempotency key of one volume of one Backup: its uid (unique) and the volume, short. */
export function idempotencyKey(uid: string, volume: string): string {
  return `${uid}/${volume.length <= 64 ? volume : shortHash(volume, 16)}`;
}

/**
 * The upload Job: `csbs mover backup` per volume, concurrently, results in termination messages. Each
 * volume's backup carries an idempotency key (Backup uid, volume): a pod killed after some
 * volumes finished is retried without writing them twice, the finished ones are reported again.
 */
export function uploadJob(args: {
  backup: { name: string; namespace: string; uid?: string };
  server: { kind: string; name: string };
  parentBackup?: string;
  volumes: UploadVolume[];
  repo: RepositoryAccess;
  settings: JobSettings;
}): V1Job {
  const { backup, repo, settings } = args;
  const podVolumes: V1Volume[] = [...repositoryVolumes(repo)];
  const containers: V1Container[] = args.volumes.map((v, i) => {
    const volName = `v${i}`;
    podVolumes.push({ name: volName, persistentVolumeClaim: { claimName: v.claimName, readOnly: !v.block } });
    const paths = volumePaths(i, v.block);
    const command = [
      'csbs',
      'mover',
      'backup',
      ...repositoryArgs(repo),
      '--source',
      paths.file,
      ...(v.parentManifest ? ['--parent', v.parentManifest] : []),
      '--tag',
      `backup=${backup.name}`,
      '--tag',
      `server=${args.server.kind}/${args.server.name}`,
      '--tag',
      `volume=${v.name}`,
      '--tag',
      `namespace=${backup.namespace}`,
      ...(backup.uid ? ['--idempotency-key', idempotencyKey(backup.uid, v.name)] : []),
      '--summary-file',
      TERMINATION_MESSAGE_PATH,
    ];
    return moverContainer(volumeContainerName(i, v.pvc), command, repo, settings, {
      env: [
        { name: ENV_SOURCE_PVC, value: v.pvc },
        { name: ENV_VOLUME, value: v.name },
      ],
      ...(v.block
        ? { volumeDevices: [{ name: volName, devicePath: paths.dir }] }
        : { volumeMounts: [{ name: volName, mountPath: paths.dir, readOnly: true }] }),
    });
  });
  return moverJob({
    name: uploadJobName(backup.name),
    namespace: backup.namespace,
    labels: backupChildLabels(backup.name),
    ...(args.parentBackup ? { annotations: { [ANNOTATION_PARENT]: args.parentBackup } } : {}),
    containers,
    volumes: podVolumes,
    blockDevices: args.volumes.some((v) => v.block),
    settings,
  });
}

/** The Job removing a Backup's manifests from the repository (its blocks go at the next gc). */
export function deleteJob(args: {
  backup: { name: string; namespace: string };
  manifests: string[];
  repo: RepositoryAccess;
  settings: JobSettings;
}): V1Job {
  const { backup, repo, settings } = args;
  const command = [
    'csbs',
    'mover',
    'delete',
    ...repositoryArgs(repo),
    ...args.manifests.flatMap((m) => ['--manifest', m]),
  ];
  return moverJob({
    name: deleteJobName(backup.name),
    namespace: backup.namespace,
    labels: backupChildLabels(backup.name),
    containers: [moverContainer('delete', command, repo, settings)],
    volumes: repositoryVolumes(repo),
    blockDevices: false,
    settings,
  });
}

/** The volume names (env) of each container of an upload Job, to map results back. */
export function containerVolumes(job: V1Job): Map<string, { pvc: string; volume: string }> {
  const out = new Map<string, { pvc: string; volume: string }>();
  for (const c of job.spec?.template.spec?.containers ?? []) {
    const env = new Map((c.env ?? []).map((e) => [e.name, e.value ?? '']));
    const pvc = env.get(ENV_SOURCE_PVC);
    if (pvc !== undefined) out.set(c.name, { pvc, volume: env.get(ENV_VOLUME) ?? pvc });
  }
  return out;
}
