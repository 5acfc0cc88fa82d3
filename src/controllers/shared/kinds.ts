/** The runtime's kinds, with the third-party ones typed by the fields the controllers read. */
import { Kinds, type ResourceKind } from '../../runtime/kinds.js';
import type { VirtualMachine, VirtualMachineInstance, VolumeSnapshot } from './thirdparty.js';

export const BackupKind = Kinds.Backup;
export const BackupRepositoryKind = Kinds.BackupRepository;
export const OneOffBackupKind = Kinds.OneOffBackup;
export const RestoreKind = Kinds.Restore;
// The runtime types third-party kinds as GenericObject; these casts only narrow the phantom type.
export const VolumeSnapshotKind = Kinds.VolumeSnapshot as unknown as ResourceKind<
  VolumeSnapshot & { metadata: object }
>;
export const VirtualMachineKind = Kinds.VirtualMachine as unknown as ResourceKind<VirtualMachine>;
export const VirtualMachineInstanceKind =
  Kinds.VirtualMachineInstance as unknown as ResourceKind<VirtualMachineInstance>;
