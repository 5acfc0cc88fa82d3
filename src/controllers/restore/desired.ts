/**
 * Pure builders for a Restore: which volumes go where (the backup's own PVCs in place, or new PVCs named
 * `<prefix><volume>`), the new PVCs, the restore Job (one `csbs mover restore` container per volume) and
 * the VirtualMachine patches that halt it and start it again, remembering its run strategy on the VM.
 */
import type { V1Container, V1Job, V1PersistentVolumeClaim, V1Volume } from '@kubernetes/client-node';
import { RestoreMode } from '../../api/conditions.js';
import {
  ANNOTATION_CREATED_BY_RESTORE,
  ANNOTATION_HALTED_GENERATION,
  ANNOTATION_ORIGINAL_RUN_STRATEGY,
  ANNOTATION_RESTORE_IN_PROGRESS,
  LABEL_MANAGED_BY,
  LABEL_RESTORE,
  MANAGED_BY,
} from '../../api/labels.js';
import type { Backup, Restore, VolumeBackupStatus } from '../../api/types.js';
import { volumePaths } from '../backup/desired.js';
import {
  type JobSettings,
  type RepositoryAccess,
  TERMINATION_MESSAGE_PATH,
  moverContainer,
  moverJob,
  repositoryArgs,
  repositoryVolumes,
} from '../shared/mover.js';
import { childName, dnsLabelish, labelValue } from '../shared/names.js';
import type { VirtualMachine } from '../shared/thirdparty.js';

/** Env var naming the target PVC in each restore container. */
export const ENV_TARGET_PVC = 'CSBS_TARGET_PVC';

/** One volume to restore: from which manifest, into which PVC. */
export interface RestoreVolume {
  name: string;
  manifest: string;
  /** PVC written. */
  claimName: string;
  block: boolean;
  source: VolumeBackupStatus;
}

/** Labels of every child of a Restore. */
export function restoreChildLabels(restore: string): Record<string, string> {
  return { [LABEL_RESTORE]: labelValue(restore), [LABEL_MANAGED_BY]: MANAGED_BY };
}

/** Name of the restore Job. */
export function restoreJobName(restore: string): string {
  return childName(restore, 'restore');
}

/** Whether the restore writes over the server's own PVCs. */
export function inPlace(restore: Restore): boolean {
  return (restore.spec.target?.mode ?? RestoreMode.InPlace) === RestoreMode.InPlace;
}

/**
 * The volumes to restore, or a message naming what is wrong (a volume the backup lacks, a missing
 * manifest, a missing prefix).
 */
export function plannedVolumes(
  restore: Restore,
  backup: Backup,
): { volumes: RestoreVolume[] } | { error: string } {
  const all = backup.status?.volumes ?? [];
  const wanted = restore.spec.volumes?.length ? restore.spec.volumes : all.map((v) => v.name);
  const unknown = wanted.filter((w) => !all.some((v) => v.name === w));
  if (unknown.length)
    return {
      error: `spec.volumes names ${unknown.join(', ')}, not in Backup ${backup.metadata.name} (it has ${all.map((v) => v.name).join(', ') || 'none'})`,
    };
  const prefix = restore.spec.target?.pvcNamePrefix ?? '';
  if (!inPlace(restore) && !prefix)
    return { error: 'spec.target.pvcNamePrefix is required when spec.target.mode is NewPVCs' };
  const volumes: RestoreVolume[] = [];
  for (const name of wanted) {
    const v = all.find((x) => x.name === name) as VolumeBackupStatus;
    if (!v.manifestID)
      return {
        error: `volume ${name} of Backup ${backup.metadata.name} has no manifest: the backup is not restorable`,
      };
    volumes.push({
      name,
      manifest: v.manifestID,
      claimName: inPlace(restore) ? v.pvc : dnsLabelish(`${prefix}${name}`),
      block: v.volumeMode === 'Block',
      source: v,
    });
  }
  return { volumes };
}

/**
 * A new PVC for a NewPVCs restore: the backed-up size and mode, the requested or original class. It
 * carries the Restore's uid, the only proof that this restore created it and may write into it.
 */
export function newPVC(restore: Restore, v: RestoreVolume): V1PersistentVolumeClaim {
  const sc = restore.spec.target?.storageClassName ?? v.source.storageClassName;
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: {
      name: v.claimName,
      namespace: restore.metadata.namespace,
      labels: restoreChildLabels(restore.metadata.name ?? ''),
      annotations: { [ANNOTATION_CREATED_BY_RESTORE]: restore.metadata.uid ?? '' },
    },
    spec: {
      accessModes: v.source.accessModes?.length ? v.source.accessModes : ['ReadWriteOnce'],
      volumeMode: v.block ? 'Block' : 'Filesystem',
      resources: { requests: { storage: String(v.source.sizeBytes ?? 1) } },
      ...(sc ? { storageClassName: sc } : {}),
    },
  };
}

/** Whether `pvc` was created by `restore` (same uid), so the restore may write into it. */
export function createdBy(pvc: V1PersistentVolumeClaim, restore: Restore): boolean {
  const uid = pvc.metadata?.annotations?.[ANNOTATION_CREATED_BY_RESTORE];
  return Boolean(uid) && uid === restore.metadata.uid;
}

/** The restore Job: one mover per volume, `--only-changed` when writing over existing data. */
export function restoreJob(args: {
  restore: { name: string; namespace: string };
  volumes: RestoreVolume[];
  onlyChanged: boolean;
  repo: RepositoryAccess;
  settings: JobSettings;
}): V1Job {
  const { repo, settings } = args;
  const podVolumes: V1Volume[] = [...repositoryVolumes(repo)];
  const containers: V1Container[] = args.volumes.map((v, i) => {
    const volName = `v${i}`;
    podVolumes.push({ name: volName, persistentVolumeClaim: { claimName: v.claimName } });
    const paths = volumePaths(i, v.block);
    const command = [
      'csbs',
      'mover',
      'restore',
      ...repositoryArgs(repo),
      '--manifest',
      v.manifest,
      '--target',
      paths.file,
      ...(args.onlyChanged ? ['--only-changed'] : []),
      '--summary-file',
      TERMINATION_MESSAGE_PATH,
    ];
    return moverContainer(
      dnsLabelish(`v${i}-${v.name}`).slice(0, 63).replace(/-$/, ''),
      command,
      repo,
      settings,
      {
        env: [
          { name: ENV_TARGET_PVC, value: v.claimName },
          { name: 'CSBS_VOLUME', value: v.name },
        ],
        ...(v.block
          ? { volumeDevices: [{ name: volName, devicePath: paths.dir }] }
          : { volumeMounts: [{ name: volName, mountPath: paths.dir }] }),
      },
    );
  });
  return moverJob({
    name: restoreJobName(args.restore.name),
    namespace: args.restore.namespace,
    labels: restoreChildLabels(args.restore.name),
    containers,
    volumes: podVolumes,
    blockDevices: args.volumes.some((v) => v.block),
    settings,
  });
}

/** The run strategy a VM has now (`running: true/false` maps to Always/Halted). */
export function currentRunStrategy(vm: VirtualMachine): string {
  if (vm.spec?.runStrategy) return vm.spec.runStrategy;
  return vm.spec?.running ? 'Always' : 'Halted';
}

/** Merge patch halting a VM for restore `name`, recording its strategy first (only the first time). */
export function haltPatch(vm: VirtualMachine, restore: string): Record<string, unknown> {
  const recorded = vm.metadata?.annotations?.[ANNOTATION_ORIGINAL_RUN_STRATEGY];
  return {
    metadata: {
      annotations: {
        [ANNOTATION_ORIGINAL_RUN_STRATEGY]: recorded ?? currentRunStrategy(vm),
        [ANNOTATION_RESTORE_IN_PROGRESS]: restore,
      },
    },
    // KubeVirt rejects `running` together with `runStrategy`.
    spec: { runStrategy: 'Halted', ...(vm.spec?.running !== undefined ? { running: null } : {}) },
  };
}

/**
 * Merge patch recording the VM's generation once it is halted. Any later spec change (someone setting
 * `runStrategy: Always`, even briefly) moves the generation, so the restore notices it after the fact.
 */
export function haltedGenerationPatch(vm: VirtualMachine): Record<string, unknown> {
  return {
    metadata: { annotations: { [ANNOTATION_HALTED_GENERATION]: String(vm.metadata?.generation ?? 0) } },
  };
}

/**
 * What disturbed a VM held halted for a restore, or undefined when it stayed halted: its run strategy
 * changed, its spec changed since it was halted, or an instance of it exists and is not finished.
 */
export function haltDisturbed(
  vm: VirtualMachine,
  vmi: { status?: { phase?: string } } | undefined,
): string | undefined {
  const strategy = currentRunStrategy(vm);
  if (strategy !== 'Halted') return `its runStrategy was set to ${strategy}`;
  const halted = vm.metadata?.annotations?.[ANNOTATION_HALTED_GENERATION];
  if (halted !== undefined && halted !== String(vm.metadata?.generation ?? 0))
    return `its spec changed (generation ${halted} -> ${vm.metadata?.generation ?? 0})`;
  if (vmi && !['Succeeded', 'Failed'].includes(vmi.status?.phase ?? ''))
    return `an instance of it is ${vmi.status?.phase ?? 'starting'}`;
  return undefined;
}

/** Merge patch putting the VM's recorded run strategy back (start it) and dropping our annotations. */
export function startPatch(vm: VirtualMachine): Record<string, unknown> {
  const original = vm.metadata?.annotations?.[ANNOTATION_ORIGINAL_RUN_STRATEGY];
  const strategy = original && original !== 'Halted' ? original : 'Always';
  return {
    metadata: {
      annotations: {
        [ANNOTATION_ORIGINAL_RUN_STRATEGY]: null,
        [ANNOTATION_RESTORE_IN_PROGRESS]: null,
        [ANNOTATION_HALTED_GENERATION]: null,
      },
    },
    spec: { runStrategy: strategy },
  };
}

/** Merge patch dropping the in-progress mark but leaving the VM halted (failed or no power-on). */
export function leaveHaltedPatch(): Record<string, unknown> {
  return {
    metadata: {
      annotations: { [ANNOTATION_RESTORE_IN_PROGRESS]: null, [ANNOTATION_HALTED_GENERATION]: null },
    },
  };
}
