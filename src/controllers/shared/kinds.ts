/** The runtime's kinds, typed with the csbs and third-party types the controllers read. */
import type { Backup, BackupRepository, OneOffBackup, Restore } from '../../api/types.js';
import { Kinds, type ResourceKind } from '../../runtime/kinds.js';
import type { VirtualMachine, VirtualMachineInstance, VolumeSnapshot } from './thirdparty.js';

// The runtime types custom kinds as GenericObject; these casts only narrow the phantom type.
export const BackupKind = Kinds.Backup as unknown as ResourceKind<Backup>;
export const BackupRepositoryKind = Kinds.BackupRepository as unknown as ResourceKind<BackupRepository>;
export const OneOffBackupKind = Kinds.OneOffBackup as unknown as ResourceKind<OneOffBackup>;
export const RestoreKind = Kinds.Restore as unknown as ResourceKind<Restore>;
export const VolumeSnapshotKind = Kinds.VolumeSnapshot as unknown as ResourceKind<
  VolumeSnapshot & { metadata: object }
>;
export const VirtualMachineKind = Kinds.VirtualMachine as unknown as ResourceKind<VirtualMachine>;
export const VirtualMachineInstanceKind =
  Kinds.VirtualMachineInstance as unknown as ResourceKind<VirtualMachineInstance>;
